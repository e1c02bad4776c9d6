import { TianqiError } from '@tianqi/domain';

interface Tally {
  failures: number;
  /** Checks running now: counted as failures until they end, so parallel guesses cannot overtake. */
  pending: number;
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
    const keys: [string, number][] = [[`user:${username.trim().toLowerCase()}`, this.#policy.maxFailures]];
    if (ip) keys.push([`ip:${addressBlock(ip)}`, this.#policy.maxFailures * this.#policy.ipFactor]);
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
      if (t && t.lockedUntil <= this.now() && t.failures + t.pending >= this.#limitOf(key)) {
        throw new TianqiError('rate_limited', 'too many sign-ins at once; try again in a moment', {
          retryAfterSeconds: 1,
        });
      }
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

  #limitOf(key: string): number {
    return key.startsWith('ip:')
      ? this.#policy.maxFailures * this.#policy.ipFactor
      : this.#policy.maxFailures;
  }

  /**
   * Checks (as check) and counts an attempt as under way until `done` is called: an attempt that
   * fails is counted as a failure from the moment it starts.
   */
  begin(username: string, ip: string | null): () => void {
    this.check(username, ip);
    const keys = this.#keys(username, ip).map(([key]) => key);
    for (const key of keys) {
      const t = this.#tally(key) ?? { failures: 0, pending: 0, firstAt: this.now(), lockedUntil: 0 };
      t.pending += 1;
      this.#tallies.set(key, t);
    }
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      for (const key of keys) {
        const t = this.#tallies.get(key);
        if (t) t.pending = Math.max(0, t.pending - 1);
      }
    };
  }

  /** Counts a failure; resolves after the delay the caller should wait before answering. */
  async failure(username: string, ip: string | null): Promise<void> {
    let worst = 0;
    for (const [key, limit] of this.#keys(username, ip)) {
      const t = this.#tally(key) ?? { failures: 0, pending: 0, firstAt: this.now(), lockedUntil: 0 };
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
    this.#tallies.delete(`user:${username.trim().toLowerCase()}`);
  }

  /**
   * Bounded memory under a flood of made-up names: finished tallies go first, then the oldest, but a
   * lockout in force is never dropped (a flood must not free a name under attack).
   */
  #prune(): void {
    if (this.#tallies.size <= 100_000) return;
    for (const key of [...this.#tallies.keys()]) this.#tally(key);
    for (const [key, t] of this.#tallies) {
      if (this.#tallies.size <= 90_000) break;
      if (t.lockedUntil <= this.now() && t.pending === 0) this.#tallies.delete(key);
    }
  }
}

/** IPv4 addresses count one by one; IPv6 ones by their /64, which one subscriber usually has whole. */
export function addressBlock(ip: string): string {
  if (!ip.includes(':')) return ip;
  const [head = '', tail = ''] = ip.split('::');
  const left = head ? head.split(':') : [];
  const right = tail ? tail.split(':') : [];
  const full = ip.includes('::')
    ? [...left, ...Array(8 - left.length - right.length).fill('0'), ...right]
    : left;
  return `${full
    .slice(0, 4)
    .map((h) => h.toLowerCase().replace(/^0+(?=.)/, ''))
    .join(':')}::/64`;
}
