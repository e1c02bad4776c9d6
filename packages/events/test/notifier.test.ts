import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { Notifier } from '../src/index.js';

// Wake-ups in the process touch no database: a pool is never asked for here.
const notifier = () => new Notifier({} as pg.Pool, undefined, () => {});

/** Whether `p` has settled once the microtasks and timers already due have run. */
async function settledNow(p: Promise<void>): Promise<boolean> {
  let done = false;
  void p.then(() => {
    done = true;
  });
  await new Promise((r) => setImmediate(r));
  return done;
}

describe('wake-ups in one process', () => {
  it('given a quiet spell, when something is appended, then the followers are woken at once', async () => {
    const n = notifier();
    const waiting = n.wait(n.generation, 60_000);
    n.wake();
    expect(await settledNow(waiting)).toBe(true);
  });

  it('given followers woken just now, when more is appended at once, then they are woken again together at the next turn, not once per append', async () => {
    const n = notifier();
    n.wake();
    const a = n.wait(n.generation, 60_000);
    const b = n.wait(n.generation, 60_000);
    n.wake();
    n.wake();
    expect(await settledNow(a)).toBe(false);
    expect(await settledNow(b)).toBe(false);
    await Promise.all([a, b]); // within the pace (milliseconds), not the 60 s of the wait
    // A follower that comes back just after that sees nothing new and waits for the next append.
    const c = n.wait(n.generation, 60_000);
    expect(await settledNow(c)).toBe(false);
    n.wake();
    await c;
  });

  it('given a follower that comes back after the generation moved, when waiters were woken just now, then it waits for the next turn too', async () => {
    const n = notifier();
    const before = n.generation;
    n.wake();
    const late = n.wait(before, 60_000);
    expect(await settledNow(late)).toBe(false);
    await late;
  });

  it('given the store closing, then every waiter is let go at once', async () => {
    const n = notifier();
    n.wake();
    const a = n.wait(n.generation, 60_000);
    n.wake(); // held back by the pace
    await n.close();
    expect(await settledNow(a)).toBe(true);
  });
});
