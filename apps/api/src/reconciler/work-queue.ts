/**
 * A queue of keys (instance ids) for a level-triggered controller: a key added while it is queued is
 * not queued twice, a key added while it is being worked on is worked on once more afterwards (so no
 * wake-up is lost), and a failure is retried after an exponentially growing, jittered delay.
 */
export class WorkQueue {
  readonly #queued = new Set<string>();
  readonly #running = new Set<string>();
  readonly #again = new Set<string>();
  readonly #failures = new Map<string, number>();
  readonly #timers = new Map<string, NodeJS.Timeout>();
  readonly #idle = new Set<() => void>();
  #stopped = false;

  constructor(
    private readonly work: (key: string) => Promise<void>,
    private readonly options: {
      baseDelayMs?: number;
      maxDelayMs?: number;
      /** Told of each failure and when it is tried again; awaited before that retry can start. */
      onError?: (key: string, err: unknown, retry: { attempt: number; delayMs: number }) => unknown;
      /** Keys worked on at once: a start with 10,000 instances queued must not load them all at once. */
      concurrency?: number;
    } = {},
  ) {}

  get depth(): number {
    return this.#queued.size + this.#running.size + this.#timers.size;
  }

  add(key: string): void {
    if (this.#stopped) return;
    const timer = this.#timers.get(key);
    if (timer) {
      clearTimeout(timer);
      this.#timers.delete(key);
    }
    if (this.#running.has(key)) {
      this.#again.add(key);
      return;
    }
    if (this.#queued.has(key)) return;
    this.#queued.add(key);
    queueMicrotask(() => this.#pump());
  }

  /**
   * Adds a key nothing is pending for: not queued, not being worked on, not waiting for its retry (a
   * look that only makes sure no wake-up was lost, and must not cut a retry's backoff short).
   */
  addIfIdle(key: string): boolean {
    if (this.#queued.has(key) || this.#running.has(key) || this.#timers.has(key)) return false;
    this.add(key);
    return !this.#stopped;
  }

  /** Starts queued keys, oldest first, while there is room. */
  #pump(): void {
    const limit = this.options.concurrency ?? 64;
    for (const key of this.#queued) {
      if (this.#stopped || this.#running.size >= limit) break;
      this.#queued.delete(key);
      void this.#run(key);
    }
    this.#checkIdle();
  }

  async #run(key: string): Promise<void> {
    this.#running.add(key);
    try {
      await this.work(key);
      this.#failures.delete(key);
    } catch (err) {
      const failures = (this.#failures.get(key) ?? 0) + 1;
      this.#failures.set(key, failures);
      const cap = Math.min(
        this.options.maxDelayMs ?? 30_000,
        (this.options.baseDelayMs ?? 250) * 2 ** failures,
      );
      const delayMs = cap / 2 + Math.random() * (cap / 2);
      try {
        await this.options.onError?.(key, err, { attempt: failures, delayMs });
      } catch {
        // Telling of a failure must not stop its retry.
      }
      if (!this.#stopped) {
        this.#timers.set(
          key,
          setTimeout(() => {
            this.#timers.delete(key);
            this.add(key);
          }, delayMs),
        );
      }
    } finally {
      this.#running.delete(key);
      if (this.#again.delete(key)) this.add(key);
      this.#pump();
    }
  }

  #checkIdle(): void {
    if (this.#queued.size === 0 && this.#running.size === 0) {
      for (const resolve of this.#idle) resolve();
      this.#idle.clear();
    }
  }

  /** Resolves when nothing is queued or running (retries waiting on a timer do not count). */
  idle(): Promise<void> {
    if (this.#queued.size === 0 && this.#running.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.#idle.add(resolve));
  }

  /** Stops taking work and waits for what is running to finish (in-flight Docker calls complete). */
  async stop(): Promise<void> {
    this.#stopped = true;
    for (const t of this.#timers.values()) clearTimeout(t);
    this.#timers.clear();
    this.#queued.clear();
    this.#again.clear();
    await this.idle();
  }
}
