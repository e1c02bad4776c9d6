import { TianqiError } from '@tianqi/domain';

interface Tally {
  failures: number;
  /** Checks running now: counted as failures until they end, so parallel guesses cannot overtake. */
  pending: number;
  firstAt: number;
  lockedUntil: number;
  /** For a name: no attempt from an unknown address before this (the throttle). */
  nextAt: number;
}

export interface LimiterPolicy {
  /** Failures for one name from one address in the window before that pair is locked for the window. */
  maxFailures: number;
  /** Per source address, whatever the names: this many times maxFailures (one office, many people). */
  ipFactor?: number;
  windowMs: number;
  /** The first failure waits this long before answering, each further one twice as long (≤ 4 s). */
  baseDelayMs?: number;
  /** A name's failures from everywhere space its next attempts: this after the first, doubling… */
  throttleBaseMs?: number;
  /** …up to this. */
  maxThrottleMs?: number;
  /** An address a name signed in from is known for this long: the name's throttle spares it. */
  knownMs?: number;
}

/** A failure or success counted here, for the other API servers to count too. */
export type LoginOutcome = 'login-failure' | 'login-success';

const fresh = (now: number): Tally => ({ failures: 0, pending: 0, firstAt: now, lockedUntil: 0, nextAt: 0 });

/**
 * Failed sign-ins, shared by the web login, the CLI and the SSH jumpbox (passwords and keys). The rule:
 * - one name from one address: past `maxFailures` failures that pair is locked for the window, right
 *   password or not (a guesser at one address stops);
 * - one address, any names: past `ipFactor × maxFailures` the address is locked (a sprayer stops);
 * - one name, from every address: each failure spaces the name's next attempt from an unknown address
 *   further (doubling, at most `maxThrottleMs`) — a throttle, not a lockout; addresses the name signed
 *   in from lately (here, or in the event log: see remember) are spared it, so guesses from elsewhere
 *   cannot keep its owner out at their own address.
 * Each failure also answers later than the one before.
 */
export class LoginLimiter {
  readonly #tallies = new Map<string, Tally>();
  /** name → address block → known until. */
  readonly #known = new Map<string, Map<string, number>>();
  readonly #policy: Required<LimiterPolicy>;
  #share: ((outcome: LoginOutcome, username: string, ip: string | null) => void) | null = null;

  constructor(
    policy: LimiterPolicy,
    private readonly now: () => number = Date.now,
  ) {
    this.#policy = {
      ipFactor: 4,
      baseDelayMs: 250,
      throttleBaseMs: 1_000,
      maxThrottleMs: 30_000,
      knownMs: 30 * 86_400_000,
      ...policy,
    };
  }

  /**
   * With several API servers: each failure and success counted here is told through `share`, and
   * the others' come in through `heard`, so a lockout counts the attempts made on any of them.
   */
  shareWith(share: (outcome: LoginOutcome, username: string, ip: string | null) => void): void {
    this.#share = share;
  }

  /** Another server's failure or success: counted as if it happened here (no delay, not told on). */
  heard(outcome: LoginOutcome, username: string, ip: string | null): void {
    if (outcome === 'login-failure') this.#count(username, ip);
    else this.#clear(username, ip);
  }

  /** The lockout keys an attempt counts against, with their limits. */
  #locks(username: string, ip: string | null): [string, number][] {
    const name = normal(username);
    const block = ip ? addressBlock(ip) : '-';
    const keys: [string, number][] = [[`pair:${name}|${block}`, this.#policy.maxFailures]];
    if (ip) keys.push([`ip:${block}`, this.#policy.maxFailures * this.#policy.ipFactor]);
    return keys;
  }

  #tally(key: string): Tally | undefined {
    const t = this.#tallies.get(key);
    const now = this.now();
    if (t && now - t.firstAt > this.#policy.windowMs && now >= t.lockedUntil && t.pending === 0) {
      this.#tallies.delete(key);
      return undefined;
    }
    return t;
  }

  /** Whether the name signed in from this address lately. */
  #isKnown(name: string, ip: string | null): boolean {
    if (!ip) return false;
    const until = this.#known.get(name)?.get(addressBlock(ip));
    return until !== undefined && until > this.now();
  }

  /** Throws `rate_limited` while the pair or the address is locked out, or the name is throttled. */
  check(username: string, ip: string | null): void {
    const now = this.now();
    for (const [key, limit] of this.#locks(username, ip)) {
      const t = this.#tally(key);
      if (!t) continue;
      if (t.lockedUntil > now) {
        const seconds = Math.ceil((t.lockedUntil - now) / 1000);
        throw new TianqiError(
          'rate_limited',
          `too many failed sign-ins${key.startsWith('ip:') ? ' from this address' : ' for this user from this address'}; try again in ${seconds} s`,
          { retryAfterSeconds: seconds },
        );
      }
      if (t.failures + t.pending >= limit) {
        throw new TianqiError('rate_limited', 'too many sign-ins at once; try again in a moment', {
          retryAfterSeconds: 1,
        });
      }
    }
    const name = normal(username);
    if (this.#isKnown(name, ip)) return;
    const t = this.#tally(`user:${name}`);
    if (t && t.nextAt > now) {
      const seconds = Math.ceil((t.nextAt - now) / 1000);
      throw new TianqiError(
        'rate_limited',
        `too many failed sign-ins for this user lately; try again in ${seconds} s`,
        { retryAfterSeconds: seconds },
      );
    }
    if (t && t.pending >= this.#policy.maxFailures) {
      throw new TianqiError('rate_limited', 'too many sign-ins at once; try again in a moment', {
        retryAfterSeconds: 1,
      });
    }
  }

  /**
   * Checks (as check) and counts an attempt as under way until `done` is called: an attempt that
   * fails is counted as a failure from the moment it starts.
   */
  begin(username: string, ip: string | null): () => void {
    this.check(username, ip);
    const keys = [...this.#locks(username, ip).map(([key]) => key), `user:${normal(username)}`];
    const now = this.now();
    // The tallies themselves are kept: one cleared meanwhile (a success) must not lose a later count.
    const tallies = keys.map((key) => {
      const t = this.#tally(key) ?? fresh(now);
      t.pending += 1;
      this.#tallies.set(key, t);
      return t;
    });
    // A throttled name takes one attempt from an unknown address per spacing, not a burst of them.
    const name = tallies.at(-1)!;
    if (name.failures > 0 && !this.#isKnown(normal(username), ip))
      name.nextAt = now + this.#spacing(name.failures);
    let ended = false;
    return () => {
      if (ended) return;
      ended = true;
      for (const t of tallies) t.pending = Math.max(0, t.pending - 1);
    };
  }

  /**
   * Whether an attempt would be held back by the name's throttle only because this address is not
   * known to the name here: then it is worth asking the event log whether it is (see remember).
   */
  throttledAsUnknown(username: string, ip: string | null): boolean {
    const name = normal(username);
    if (!ip || this.#isKnown(name, ip)) return false;
    const t = this.#tally(`user:${name}`);
    return t !== undefined && (t.nextAt > this.now() || t.pending >= this.#policy.maxFailures);
  }

  /** An address the name signed in from lately (found in the event log): spared the throttle. */
  remember(username: string, ip: string): void {
    const name = normal(username);
    const known = this.#known.get(name) ?? new Map<string, number>();
    known.set(addressBlock(ip), this.now() + this.#policy.knownMs);
    // A name keeps its last few addresses, not every one it was ever seen at.
    if (known.size > 16) known.delete(known.keys().next().value!);
    this.#known.set(name, known);
    if (this.#known.size > 100_000) this.#known.delete(this.#known.keys().next().value!);
  }

  /** How long an address stays known to a name after a sign-in from it. */
  get knownMs(): number {
    return this.#policy.knownMs;
  }

  #spacing(failures: number): number {
    return Math.min(this.#policy.throttleBaseMs * 2 ** (failures - 1), this.#policy.maxThrottleMs);
  }

  /** Counts a failure; resolves after the delay the caller should wait before answering. */
  async failure(username: string, ip: string | null): Promise<void> {
    const pairFailures = this.#count(username, ip);
    this.#share?.('login-failure', username, ip);
    const delay = Math.min(this.#policy.baseDelayMs * 2 ** (pairFailures - 1), 4_000);
    await new Promise((r) => setTimeout(r, delay));
  }

  /** Counts a failure against the pair, the address and the name; answers the pair's count. */
  #count(username: string, ip: string | null): number {
    const now = this.now();
    let pairFailures = 0;
    for (const [key, limit] of this.#locks(username, ip)) {
      const t = this.#tally(key) ?? fresh(now);
      t.failures += 1;
      if (t.failures >= limit) t.lockedUntil = now + this.#policy.windowMs;
      this.#tallies.set(key, t);
      if (key.startsWith('pair:')) pairFailures = t.failures;
    }
    const nameKey = `user:${normal(username)}`;
    const name = this.#tally(nameKey) ?? fresh(now);
    name.failures += 1;
    name.nextAt = Math.max(name.nextAt, now + this.#spacing(name.failures));
    this.#tallies.set(nameKey, name);
    this.#prune();
    return pairFailures;
  }

  /**
   * A right password (or key) clears the pair's count and makes the address known to the name; the
   * address's own count stays (one success must not reset a spray), and so does the name's throttle
   * for other addresses.
   */
  success(username: string, ip: string | null = null): void {
    this.#clear(username, ip);
    this.#share?.('login-success', username, ip);
  }

  #clear(username: string, ip: string | null): void {
    const name = normal(username);
    const block = ip ? addressBlock(ip) : '-';
    this.#tallies.delete(`pair:${name}|${block}`);
    if (ip) this.remember(username, ip);
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
      if (t.lockedUntil <= this.now() && t.nextAt <= this.now() && t.pending === 0) this.#tallies.delete(key);
    }
  }
}

const normal = (username: string) => username.trim().toLowerCase();

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
