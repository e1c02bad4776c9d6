import { describe, expect, it } from 'vitest';
import { KeyedSemaphore } from '../src/concurrency/keyed-semaphore.js';
import { WorkQueue } from '../src/reconciler/work-queue.js';

const tick = (ms = 5) => new Promise((r) => setTimeout(r, ms));

describe('the reconciler work queue', () => {
  it('never runs a key twice at once, and runs it once more when woken during work (no lost wake-up)', async () => {
    const runs: string[] = [];
    let active = 0;
    let most = 0;
    const queue = new WorkQueue(async (key) => {
      active++;
      most = Math.max(most, active);
      runs.push(key);
      await tick(20);
      active--;
    });
    queue.add('a');
    queue.add('a'); // queued already: not twice
    await tick(5);
    queue.add('a'); // during work: once more afterwards
    queue.add('a');
    await queue.idle();
    expect(runs).toEqual(['a', 'a']);
    expect(most).toBe(1);
  });

  it('retries a failure after a backoff, and stops retrying once stopped', async () => {
    let calls = 0;
    const queue = new WorkQueue(
      async () => {
        calls++;
        if (calls < 3) throw new Error('not yet');
      },
      { baseDelayMs: 5, maxDelayMs: 20 },
    );
    queue.add('x');
    for (let i = 0; i < 100 && calls < 3; i++) await tick(5);
    expect(calls).toBe(3);
    const failing = new WorkQueue(
      async () => {
        throw new Error('always');
      },
      { baseDelayMs: 5 },
    );
    failing.add('y');
    await tick(2);
    await failing.stop();
    expect(failing.depth).toBe(0);
  });

  it('a look for lost wake-ups adds only keys nothing is pending for, and never cuts a backoff short', async () => {
    const runs: string[] = [];
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    const queue = new WorkQueue(
      async (key) => {
        runs.push(key);
        if (key === 'busy') await held;
        if (key === 'failing') throw new Error('not yet');
      },
      { baseDelayMs: 10_000 },
    );
    queue.add('busy');
    queue.add('failing');
    await tick(10);
    // busy is being worked on, failing waits for its retry (5–10 s away): neither is added again.
    expect(queue.addIfIdle('busy')).toBe(false);
    expect(queue.addIfIdle('failing')).toBe(false);
    expect(queue.addIfIdle('forgotten')).toBe(true);
    await tick(10);
    expect(runs).toEqual(['busy', 'failing', 'forgotten']);
    release();
    await queue.stop();
    expect(runs).toEqual(['busy', 'failing', 'forgotten']);
  });

  it('works on at most `concurrency` keys at once, and gets through all of them', async () => {
    let active = 0;
    let most = 0;
    const done: string[] = [];
    const queue = new WorkQueue(
      async (key) => {
        active++;
        most = Math.max(most, active);
        await tick(5);
        done.push(key);
        active--;
      },
      { concurrency: 3 },
    );
    for (let i = 0; i < 20; i++) queue.add(`k${i}`);
    await queue.idle();
    expect(most).toBe(3);
    expect(done.sort()).toEqual(Array.from({ length: 20 }, (_, i) => `k${i}`).sort());
  });

  it('bounds concurrent work per key, handing each slot over in order', async () => {
    const slots = new KeyedSemaphore(2);
    let active = 0;
    let most = 0;
    const order: number[] = [];
    await Promise.all(
      [1, 2, 3, 4, 5].map((n) =>
        slots.run('node', async () => {
          active++;
          most = Math.max(most, active);
          await tick(10);
          order.push(n);
          active--;
        }),
      ),
    );
    expect(most).toBe(2);
    expect(order.sort()).toEqual([1, 2, 3, 4, 5]);
  });
});
