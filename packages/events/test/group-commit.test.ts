import { describe, expect, it } from 'vitest';
import { type AppendResult, ConcurrencyError } from '../src/index.js';
import { deposit, useStore } from './fixtures.js';

const ctx = useStore();

const fulfilled = (outcomes: PromiseSettledResult<AppendResult>[]) =>
  outcomes.flatMap((o) => (o.status === 'fulfilled' ? [o.value] : []));

describe('appends made while others commit share a transaction (group commit)', () => {
  it('each keeps its own outcome: a stale expected version fails only its own append', async () => {
    await ctx.store.append('grp-stale', 'no_stream', [deposit(1)]);
    // All made at once: the first go alone, the rest wait and go together.
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 10 }, (_, i) => ctx.store.append(`grp-${i}`, 'no_stream', [deposit(i + 1)])),
      ctx.store.append('grp-stale', 'no_stream', [deposit(2)]),
      ctx.store.append('grp-stale-too', 'no_stream', [deposit(3)]),
    ]);
    expect(outcomes[10]).toMatchObject({ status: 'rejected', reason: expect.any(ConcurrencyError) });
    expect(outcomes[10]).toMatchObject({
      reason: { streamId: 'grp-stale', expected: 'no_stream', actual: 1 },
    });
    const ok = fulfilled(outcomes);
    expect(ok).toHaveLength(11);
    expect(new Set(ok.map((r) => r.transactionId)).size).toBeLessThan(ok.length); // some were grouped
    for (let i = 0; i < 10; i++) {
      const events = await ctx.store.readStream(`grp-${i}`);
      expect(events.map((e) => [e.version, e.data])).toEqual([[1, { amount: i + 1 }]]);
    }
    expect(await ctx.store.streamVersion('grp-stale')).toBe(1);
    expect(await ctx.store.streamVersion('grp-stale-too')).toBe(1);
  });

  it('appends to one stream made at once are written one after another, in order', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 8 }, (_, i) => ctx.store.append('grp-one', 'any', [deposit(i + 1)])),
    );
    expect(fulfilled(outcomes).map((r) => r.streams[0]!.toVersion)).toEqual([1, 2, 3, 4, 5, 6, 7, 8]);
    const events = await ctx.store.readStream('grp-one');
    expect(events.map((e) => e.data)).toEqual(Array.from({ length: 8 }, (_, i) => ({ amount: i + 1 })));
  });

  it('racing appends at one expected version: one lands, the others hear the version it made', async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 10 }, (_, i) => ctx.store.append('grp-race', 'no_stream', [deposit(i + 1)])),
    );
    expect(fulfilled(outcomes)).toHaveLength(1);
    for (const o of outcomes.filter((x) => x.status === 'rejected')) {
      expect(o.reason).toBeInstanceOf(ConcurrencyError);
      expect(o.reason).toMatchObject({ streamId: 'grp-race', expected: 'no_stream', actual: 1 });
    }
    expect(await ctx.store.streamVersion('grp-race')).toBe(1);
  });

  it('retries of one command made at once, at a version only the first can have, are answered as retries', async () => {
    const outcomes = await Promise.all(
      Array.from({ length: 10 }, () =>
        ctx.store.append('grp-retry', 'no_stream', [deposit(1)], { commandId: 'grp-cmd' }),
      ),
    );
    expect(outcomes.map((r) => r.duplicate)).toEqual([false, ...Array(9).fill(true)]);
    expect(new Set(outcomes.map((r) => r.transactionId)).size).toBe(1);
    expect(await ctx.store.streamVersion('grp-retry')).toBe(1);
  });

  it('a value PostgreSQL refuses fails its own append; the others of its group are written', async () => {
    const outcomes = await Promise.allSettled([
      ...Array.from({ length: 6 }, (_, i) => ctx.store.append(`grp-bad-${i}`, 'no_stream', [deposit(1)])),
      // jsonb holds no NUL character: the whole group's statement is refused.
      ctx.store.append('grp-bad-x', 'no_stream', [{ type: 'Renamed', data: { name: 'a\u0000b' } }]),
      ...Array.from({ length: 6 }, (_, i) => ctx.store.append(`grp-good-${i}`, 'no_stream', [deposit(2)])),
    ]);
    expect(outcomes[6]).toMatchObject({ status: 'rejected', reason: { code: '22P05' } });
    expect(fulfilled(outcomes)).toHaveLength(12);
    expect(await ctx.store.streamVersion('grp-bad-x')).toBe(0);
    for (let i = 0; i < 6; i++) {
      expect(await ctx.store.streamVersion(`grp-bad-${i}`)).toBe(1);
      expect(await ctx.store.streamVersion(`grp-good-${i}`)).toBe(1);
    }
  });

  it('events of one group are read in the order they were appended, each stream in its own order', async () => {
    const from = await ctx.store.head();
    await Promise.all(
      Array.from({ length: 12 }, (_, i) =>
        ctx.store.appendMany([
          { streamId: `grp-order-${i}`, expectedVersion: 'no_stream', events: [deposit(1), deposit(2)] },
          { streamId: `grp-order-pair-${i}`, expectedVersion: 'no_stream', events: [deposit(3)] },
        ]),
      ),
    );
    const { events } = await ctx.store.readAll(from);
    expect(events).toHaveLength(36);
    for (let i = 0; i < 12; i++) {
      const own = events.filter((e) => e.streamId === `grp-order-${i}`);
      expect(own.map((e) => [e.version, e.data])).toEqual([
        [1, { amount: 1 }],
        [2, { amount: 2 }],
      ]);
    }
    // The global order is (transaction, position): positions grow within a transaction.
    for (let i = 1; i < events.length; i++) {
      const [a, b] = [events[i - 1]!, events[i]!];
      expect(
        a.transactionId < b.transactionId || (a.transactionId === b.transactionId && a.position < b.position),
      ).toBe(true);
    }
  });
});
