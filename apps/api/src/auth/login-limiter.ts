import { TianqiError } from '@tianqi/domain';

interface Tally {
  failures: number;
  firstAt: number;
  lockedUntil: number;
}

export interface LimiterPolicy {
  /** Failures per user in the window before that user is locked out for the window. */
  maxFailures: number;
  /** Per source address: this many times maxFailures (one office, many people). */
  ipFactor?: number;
  windowMs: number;
  /** The first failure waits this long before answering, each further one twice as long (≤ 4 s). */
  baseDelayMs?: number;
}

/**
 * Failed sign-ins, counted per username and per source address, shared by the web login, the CLI and
 * the SSH jumpbox: each failure answers later than the one before, and past the limit the name (or the
 * address) is refused until the window ends, right password or not.
 */
export class LoginLimiter {
  readonly #tallies = new Map<string, Tally>();
  readonly #policy: Required<LimiterPolicy>;

  constructor(
    policy: LimiterPolicy,
    private readonly now: () => number = Date.now,
  ) {
    this.#policy = { ipFactor: 4, baseDelayMs: 250, ...policy };
  }

  #keys(username: string, ip: string | null): [string, number][] {
    const keys: [string, number][] = [[`user:${username.toLowerCase()}`, this.#policy.maxFailures]];
    if (ip) keys.push([`ip:${ip}`, this.#policy.maxFailures * this.#policy.ipFactor]);
    return keys;
  }

  #tally(key: string): Tally | undefined {
    const t = this.#tallies.get(key);
    if (t && this.now() - t.firstAt > this.#policy.windowMs && this.now() >= t.lockedUntil) {
      this.#tallies.delete(key);
      return undefined;
    }
    return t;
  }

  /** Throws `rate_limited` while the name or the address is locked out. */
  check(username: string, ip: string | null): void {
    for (const [key] of this.#keys(username, ip)) {
      const t = this.#tally(key);
      if (t && t.lockedUntil > this.now()) {
        const seconds = Math.ceil((t.lockedUntil - this.now()) / 1000);
        throw new TianqiError(
          'rate_limited',
          `too many failed sign-ins${key.startsWith('ip:') ? ' from this address' : ' for this user'}; try again in ${seconds} s`,
          { retryAfterSeconds: seconds },
        );
      }
    }
  }

  /** Counts a failure; resolves after the delay the caller should wait before answering. */
  async failure(username: string, ip: string | null): Promise<void> {
    let worst = 0;
    for (const [key, limit] of this.#keys(username, ip)) {
      const t = this.#tally(key) ?? { failures: 0, firstAt: this.now(), lockedUntil: 0 };
      t.failures += 1;
      if (t.failures >= limit) t.lockedUntil = this.now() + this.#policy.windowMs;
      this.#tallies.set(key, t);
      worst = Math.max(worst, t.failures);
    }
    this.#prune();
    const delay = Math.min(this.#policy.baseDelayMs * 2 ** (worst - 1), 4_000);
    await new Promise((r) => setTimeout(r, delay));
  }

  /** A right password clears the user's count (not the address's: one success must not reset a spray). */
  success(username: string): void {
    this.#tallies.delete(`user:${username.toLowerCase()}`);
  }

  /** Bounded memory under a flood of made-up names: the oldest tallies go first. */
  #prune(): void {
    if (this.#tallies.size <= 100_000) return;
    for (const key of [...this.#tallies.keys()].slice(0, 10_000)) this.#tallies.delete(key);
  }
}
