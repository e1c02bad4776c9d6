/** At most `limit` tasks at once per key (per node): a slow node never gets a flood of Docker calls. */
export class KeyedSemaphore {
  readonly #active = new Map<string, number>();
  readonly #waiting = new Map<string, (() => void)[]>();

  constructor(private readonly limit: number) {}

  /** `task` is told whether it waited for its slot (what it read before may be old by then). */
  async run<T>(key: string, task: (waited: boolean) => Promise<T>): Promise<T> {
    const waited = (this.#active.get(key) ?? 0) >= this.limit;
    if (waited) {
      // Wait for a slot to be handed over: the count stays with it, so nobody can slip in between.
      await new Promise<void>((resolve) => {
        const queue = this.#waiting.get(key) ?? [];
        queue.push(resolve);
        this.#waiting.set(key, queue);
      });
    } else {
      this.#active.set(key, (this.#active.get(key) ?? 0) + 1);
    }
    try {
      return await task(waited);
    } finally {
      const waiting = this.#waiting.get(key);
      const next = waiting?.shift();
      if (waiting?.length === 0) this.#waiting.delete(key);
      if (next) next();
      else if ((this.#active.get(key) ?? 1) <= 1) this.#active.delete(key);
      else this.#active.set(key, this.#active.get(key)! - 1);
    }
  }
}
