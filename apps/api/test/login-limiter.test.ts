import { describe, expect, it } from 'vitest';
import { addressBlock, LoginLimiter } from '../src/auth/login-limiter.js';

describe('login limiter', () => {
  const make = () => {
    let now = 0;
    const limiter = new LoginLimiter(
      { maxFailures: 3, ipFactor: 2, windowMs: 60_000, baseDelayMs: 0, throttleBaseMs: 0 },
      () => now,
    );
    return { limiter, advance: (ms: number) => (now += ms) };
  };
  /** With the name's throttle: 1 s after the first failure, doubling up to 8 s. */
  const throttled = () => {
    let now = 0;
    const limiter = new LoginLimiter(
      {
        maxFailures: 3,
        ipFactor: 4,
        windowMs: 60_000,
        baseDelayMs: 0,
        throttleBaseMs: 1_000,
        maxThrottleMs: 8_000,
      },
      () => now,
    );
    return { limiter, advance: (ms: number) => (now += ms) };
  };

  it('given failures for one name from one address, when that address tries again, then it is locked for the window, right password or not', async () => {
    const { limiter, advance } = make();
    for (let i = 0; i < 3; i++) await limiter.failure('alice', '10.0.0.1');
    expect(() => limiter.check('alice', '10.0.0.1')).toThrow(
      /for this user from this address; try again in 60 s/,
    );
    advance(60_001);
    expect(() => limiter.check('alice', '10.0.0.1')).not.toThrow();
  });

  it("given someone else's failures for a name, when its owner signs in from their own address, then they are not locked out", async () => {
    const { limiter } = make();
    for (let i = 0; i < 3; i++) await limiter.failure('alice', '10.0.0.66');
    expect(() => limiter.check('alice', '10.0.0.66')).toThrow(/from this address/);
    // No throttle in this policy, only the lockout: the owner's address is a pair of its own.
    expect(() => limiter.check('alice', '192.0.2.7')).not.toThrow();
  });

  it('given guesses at a name from many addresses, then each failure spaces its next attempt further, up to the cap', async () => {
    const { limiter, advance } = throttled();
    await limiter.failure('bob', '10.0.0.1');
    expect(() => limiter.check('bob', '10.0.0.2')).toThrow(/for this user lately; try again in 1 s/);
    advance(1_000);
    await limiter.failure('bob', '10.0.0.2');
    expect(() => limiter.check('bob', '10.0.0.3')).toThrow(/try again in 2 s/);
    advance(2_000);
    await limiter.failure('bob', '10.0.0.3');
    advance(4_000);
    await limiter.failure('bob', '10.0.0.4');
    advance(8_000);
    await limiter.failure('bob', '10.0.0.5');
    expect(() => limiter.check('bob', '10.0.0.6')).toThrow(/try again in 8 s/); // capped
    advance(8_000);
    expect(() => limiter.check('bob', '10.0.0.6')).not.toThrow();
    // Other names are not slowed.
    expect(() => limiter.check('carol', '10.0.0.6')).not.toThrow();
  });

  it('given a throttled name, when it is tried from an address it signed in from lately, then the throttle spares it', async () => {
    const { limiter } = throttled();
    limiter.success('dave', '198.51.100.4');
    for (let i = 0; i < 3; i++) await limiter.failure('dave', `10.0.1.${i}`);
    expect(() => limiter.check('dave', '10.0.9.9')).toThrow(/for this user lately/);
    expect(() => limiter.check('dave', '198.51.100.4')).not.toThrow();
  });

  it('given a throttled name, when parallel attempts begin from unknown addresses, then only the first one gets through', async () => {
    const { limiter, advance } = throttled();
    await limiter.failure('erin', '10.0.0.1');
    advance(1_000);
    const first = limiter.begin('erin', '10.0.0.2');
    expect(() => limiter.begin('erin', '10.0.0.3')).toThrow(/for this user lately/);
    first();
  });

  it('locks an address spraying many names, and a success does not reset the address', async () => {
    const { limiter } = make();
    for (let i = 0; i < 5; i++) await limiter.failure(`user${i}`, '10.0.0.1');
    limiter.success('someone', '10.0.0.1');
    await limiter.failure('user9', '10.0.0.1');
    expect(() => limiter.check('fresh', '10.0.0.1')).toThrow(/too many failed sign-ins from this address/);
    expect(() => limiter.check('fresh', '10.0.0.2')).not.toThrow();
  });

  it('counts attempts under way: a burst of parallel guesses meets the limit before any of them ends', () => {
    const { limiter } = make();
    const running = [
      limiter.begin('dave', '10.0.0.5'),
      limiter.begin('dave', '10.0.0.5'),
      limiter.begin('dave', '10.0.0.5'),
    ];
    expect(() => limiter.begin('dave', '10.0.0.5')).toThrow(/too many sign-ins at once/);
    for (const done of running) done();
    expect(() => limiter.begin('dave', '10.0.0.5')).not.toThrow();
  });

  it('names differing only in case or spaces are one name; IPv6 addresses count by /64', async () => {
    const { limiter } = make();
    for (const name of ['Erin', ' erin', 'ERIN ']) await limiter.failure(name, null);
    expect(() => limiter.check('erin', null)).toThrow(/for this user/);
    expect(addressBlock('2001:db8:0:1::5')).toBe(addressBlock('2001:db8:0:1:ffff::9'));
    expect(addressBlock('2001:db8:0:1::5')).not.toBe(addressBlock('2001:db8:0:2::5'));
    expect(addressBlock('10.1.2.3')).toBe('10.1.2.3');
  });

  it('a right password clears the count of its own name and address', async () => {
    const { limiter } = make();
    await limiter.failure('carol', '10.0.0.8');
    await limiter.failure('carol', '10.0.0.8');
    limiter.success('carol', '10.0.0.8');
    await limiter.failure('carol', '10.0.0.8');
    await limiter.failure('carol', '10.0.0.8');
    expect(() => limiter.check('carol', '10.0.0.8')).not.toThrow();
  });
});
