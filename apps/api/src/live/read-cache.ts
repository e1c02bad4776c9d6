import type { ProjectionRunner } from '@tianqi/projections';

/**
 * Answers of read-model queries, kept until the read models move on: an entry is served only while the
 * runner has committed nothing since it was computed (its stamp), so a cached answer is exactly what the
 * query would return now (and a mutation, which waits for its own position, still reads its write). A burst of
 * identical list requests with nothing changing in between costs one query.
 */
export class ReadCache {
  /** Answers at the runner's stamp `#at`: all of them are dropped once the read models move on. */
  readonly #entries = new Map<string, Promise<unknown>>();
  #at = '';

  constructor(
    private readonly runner: ProjectionRunner,
    private readonly limit = 1_000,
  ) {}

  get<T>(key: string, compute: () => Promise<T>): Promise<T> {
    const at = this.runner.stamp;
    // The read models moved on: nothing kept is any use now.
    if (at !== this.#at) {
      this.#entries.clear();
      this.#at = at;
    }
    const hit = this.#entries.get(key);
    if (hit) return hit as Promise<T>;
    const value = compute();
    this.#entries.set(key, value);
    // A failed query is not kept.
    value.catch(() => this.#entries.get(key) === value && this.#entries.delete(key));
    if (this.#entries.size > this.limit) this.#entries.delete(this.#entries.keys().next().value!);
    return value;
  }
}
