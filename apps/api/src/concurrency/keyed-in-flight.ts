/**
 * Work running now, by key (a node): what giving the key up waits for, without waiting for the rest
 * (the reconciler's passes and the sync's part of a run, when a node's lease goes elsewhere).
 */
export class KeyedInFlight {
  readonly #running = new Map<string, Set<Promise<unknown>>>();

  /** `work`, counted under `key` until it settles. */
  track<T>(key: string, work: Promise<T>): Promise<T> {
    const running = this.#running.get(key) ?? new Set();
    this.#running.set(key, running);
    running.add(work);
    const done = () => {
      running.delete(work);
      if (running.size === 0 && this.#running.get(key) === running) this.#running.delete(key);
    };
    work.then(done, done);
    return work;
  }

  /** Resolves once all that runs under `key` now has settled (never rejects). */
  async settled(key: string): Promise<void> {
    await Promise.allSettled([...(this.#running.get(key) ?? [])]);
  }
}
