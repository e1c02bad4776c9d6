import { describe, expect, it } from 'vitest';
import { addressBlock, LoginLimiter } from '../src/auth/login-limiter.js';

describe('login limiter', () => {
  const make = () => {
    let now = 0;
    const limiter = new LoginLimiter(
      { maxFailures: 3, ipFactor: 2, windowMs: 60_000, baseDelayMs: 0 },
      () => now,
    );
    return { limiter, advance: (ms: number) => (now += ms) };
  };

  it('locks a name after its failures, for the window, whatever the address', async () => {
    const { limiter, advance } = make();
    for (let i = 0; i < 3; i++) await limiter.failure('alice', `10.0.0.${i}`);
    expect(() => limiter.check('alice', '10.9.9.9')).toThrow(/for this user; try again in 60 s/);
    expect(() => limiter.check('bob', '10.9.9.9')).not.toThrow();
    advance(60_001);
    expect(() => limiter.check('alice', '10.9.9.9')).not.toThrow();
  });

  it('locks an address spraying many names, and a success does not reset the address', async () => {
    const { limiter } = make();
    for (let i = 0; i < 5; i++) await limiter.failure(`user${i}`, '10.0.0.1');
    limiter.success('someone');
    await limiter.failure('user9', '10.0.0.1');
    expect(() => limiter.check('fresh', '10.0.0.1')).toThrow(/from this address/);
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

  it('a right password clears the name count', async () => {
    const { limiter } = make();
    await limiter.failure('carol', null);
    await limiter.failure('carol', null);
    limiter.success('carol');
    await limiter.failure('carol', null);
    await limiter.failure('carol', null);
    expect(() => limiter.check('carol', null)).not.toThrow();
  });
});
