import { createTestDatabase, startThrowawayPostgres } from '@tianqi/infra';
import { describe, expect, it } from 'vitest';
import {
  createPool,
  EventStore,
  eventStoreMigrations,
  migrate,
  START,
  type StoredEvent,
} from '../src/index.js';
import { deposit, openStore, testEvents, useStore } from './fixtures.js';

type E = StoredEvent<typeof testEvents.schemas>;
const ctx = useStore();

const amountsOf = (events: E[], prefix: string) =>
  events.filter((e) => e.streamId.startsWith(prefix)).map((e) => e.type === 'Deposited' && e.data.amount);

async function until(ok: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !ok(); i++) await new Promise((r) => setTimeout(r, 50));
}

/** Resolves once nothing has woken the store's followers for 300 ms (at most 10 s). */
async function settled(store: { notifier: { generation: number } }): Promise<void> {
  let seen = store.notifier.generation;
  for (let i = 0; i < 100; i++) {
    await new Promise((r) => setTimeout(r, 300));
    if (store.notifier.generation === seen) return;
    seen = store.notifier.generation;
  }
}

describe('subscriptions', () => {
  it('catch up from a stored checkpoint, then follow live appends', async () => {
    for (let i = 1; i <= 40; i++) await ctx.store.append(`cp-${i % 4}`, 'any', [deposit(i)]);
    const first: E[] = [];
    const sub1 = ctx.store.subscribe({
      name: 'reporter',
      batchSize: 7,
      handle: (ev) => void first.push(...ev),
    });
    await sub1.caughtUp;
    expect(amountsOf(first, 'cp-')).toEqual(Array.from({ length: 40 }, (_, i) => i + 1));
    const live = await ctx.store.append('cp-live', 'no_stream', [deposit(41)]);
    await sub1.waitFor({ transactionId: live.transactionId, position: live.streams[0]!.lastPosition });
    await sub1.stop();
    expect(amountsOf(first, 'cp-').at(-1)).toBe(41);

    for (let i = 42; i <= 50; i++) await ctx.store.append('cp-later', 'any', [deposit(i)]);
    const second: E[] = [];
    const sub2 = ctx.store.subscribe({ name: 'reporter', handle: (ev) => void second.push(...ev) });
    await sub2.caughtUp;
    await sub2.stop();
    expect(amountsOf(second, 'cp-')).toEqual([42, 43, 44, 45, 46, 47, 48, 49, 50]);
  });

  it('are woken across processes by LISTEN/NOTIFY, not by polling', async () => {
    const otherPool = createPool(ctx.db.url);
    const other = new EventStore({ pool: otherPool, registry: testEvents });
    const got: E[] = [];
    const sub = other.subscribe({
      from: await ctx.store.head(),
      pollIntervalMs: 600_000,
      handle: (ev) => void got.push(...ev),
    });
    try {
      await sub.caughtUp;
      const r = await ctx.store.append('notify-1', 'no_stream', [deposit(7)]);
      await sub.waitFor({ transactionId: r.transactionId, position: r.streams[0]!.lastPosition });
      expect(amountsOf(got, 'notify-')).toEqual([7]);
    } finally {
      await sub.stop();
      await other.close();
      await otherPool.end();
    }
  });

  it('send no NOTIFY while no other process listens, and wake one at once as soon as it listens', async () => {
    const alone = await openStore();
    const notifies: string[] = [];
    const pool = alone.store.pool as unknown as { query: (...args: unknown[]) => unknown };
    const query = pool.query.bind(pool);
    pool.query = (...args: unknown[]) => {
      if (String(args[0]).includes('pg_notify')) notifies.push(String((args[1] as unknown[])[1]));
      return query(...args);
    };
    /** Appends every 100 ms until five in a row sent no NOTIFY; true if they did (within 4 s). */
    const silentAppends = async () => {
      for (let i = 0, silent = 0; i < 40; i++) {
        const before = notifies.length;
        await alone.store.append('alone-1', 'any', [deposit(1)]);
        await new Promise((r) => setTimeout(r, 100));
        silent = notifies.length === before ? silent + 1 : 0;
        if (silent === 5) return true;
      }
      return false;
    };
    const own = alone.store.subscribe({ from: await alone.store.head(), handle: () => {} });
    const otherPool = createPool(alone.db.url);
    const other = new EventStore({ pool: otherPool, registry: testEvents });
    try {
      await own.caughtUp;
      expect(await silentAppends()).toBe(true);

      // Polling left out: only a NOTIFY can wake the newcomer.
      const got: E[] = [];
      const sub = other.subscribe({
        from: await alone.store.head(),
        pollIntervalMs: 600_000,
        handle: (ev) => void got.push(...ev),
      });
      await sub.caughtUp;
      const r = await alone.store.append('alone-2', 'no_stream', [deposit(9)]);
      await sub.waitFor({ transactionId: r.transactionId, position: r.streams[0]!.lastPosition });
      expect(amountsOf(got, 'alone-2')).toEqual([9]);
      expect(notifies.length).toBeGreaterThan(0);

      // Alone again: silent again, once a look has seen the other one gone.
      await sub.stop();
      await other.close();
      await otherPool.end();
      expect(await silentAppends()).toBe(true);
    } finally {
      await own.stop();
      await other.close();
      await otherPool.end().catch(() => {});
      await alone.close();
    }
  }, 30_000);

  it('find events that came with no notification by polling', async () => {
    const got: E[] = [];
    const sub = ctx.store.subscribe({
      from: await ctx.store.head(),
      pollIntervalMs: 100,
      handle: (ev) => void got.push(...ev),
    });
    await sub.caughtUp;
    const { sql, params } = ctx.store.prepareAppend([
      { streamId: 'silent-1', expectedVersion: 'any', events: [deposit(3)] },
    ]);
    await ctx.store.pool.query(sql, params); // bypasses the notifier on purpose
    await ctx.store.pool.query(sql, params);
    const head = await ctx.store.head();
    await sub.waitFor(head);
    await sub.stop();
    expect(amountsOf(got, 'silent-')).toEqual([3, 3]);
  });

  it('retry a batch whose handler failed, without skipping or repeating what succeeded', async () => {
    const start = await ctx.store.head();
    for (let i = 1; i <= 6; i++) await ctx.store.append('retry-1', 'any', [deposit(i)]);
    const got: number[] = [];
    const errors: Error[] = [];
    let failOnce = true;
    const sub = ctx.store.subscribe({
      from: start,
      batchSize: 2,
      onError: (e) => errors.push(e),
      handle: (events) => {
        if (failOnce && events.some((e) => e.type === 'Deposited' && e.data.amount === 3)) {
          failOnce = false;
          throw new Error('handler hiccup');
        }
        for (const e of events) if (e.type === 'Deposited') got.push(e.data.amount);
      },
    });
    await sub.waitFor(await ctx.store.head());
    await sub.stop();
    expect(got).toEqual([1, 2, 3, 4, 5, 6]);
    expect(errors.map((e) => e.message)).toEqual(['handler hiccup']);
  });

  it('at the same position share one read of the log when an append wakes them, each in its own batch size', async () => {
    const from = await ctx.store.head();
    const readsFrom: string[] = [];
    const store = ctx.store;
    const readAll = store.readAll.bind(store);
    store.readAll = (at = START, limit) => {
      readsFrom.push(`${at.transactionId}:${at.position}@${store.notifier.generation}`);
      return readAll(at, limit);
    };
    const got: E[][] = [[], [], []];
    const subs = [2, 500, 1_000].map((batchSize, i) =>
      store.subscribe({ from, batchSize, pollIntervalMs: 600_000, handle: (ev) => void got[i]!.push(...ev) }),
    );
    try {
      await Promise.all(subs.map((s) => s.caughtUp));
      await settled(store); // the LISTEN's own first wake-up has come and gone
      const before = readsFrom.length;
      const r = await store.append('shared-1', 'no_stream', [1, 2, 3, 4, 5].map(deposit));
      const end = { transactionId: r.transactionId, position: r.streams[0]!.lastPosition };
      await Promise.all(subs.map((s) => s.waitFor(end)));
      // Woken together at the same position: one query for the three, not three. (A stray wake-up
      // during that query, such as a reconnecting LISTEN, may start one more: one per wake-up.)
      const key = `${from.transactionId}:${from.position}@`;
      const reads = readsFrom.slice(before).filter((k) => k.startsWith(key));
      expect(reads.length).toBeGreaterThan(0);
      expect(new Set(reads).size).toBe(reads.length);
      for (const events of got) expect(amountsOf(events, 'shared-')).toEqual([1, 2, 3, 4, 5]);
    } finally {
      await Promise.all(subs.map((s) => s.stop()));
      store.readAll = readAll;
    }
  });

  it('read once per wake-up: a batch that had everything is not followed by a read that finds nothing; what lands meanwhile still comes', async () => {
    const store = ctx.store;
    const from = await store.head();
    let reads = 0;
    const readAll = store.readAll.bind(store);
    store.readAll = (at = START, limit) => {
      reads++;
      return readAll(at, limit);
    };
    const got: E[] = [];
    let appendDuringHandle = true;
    const sub = store.subscribe({
      from,
      pollIntervalMs: 600_000,
      handle: async (events) => {
        got.push(...events);
        // An append that commits while the batch is handled: the next read must still come.
        if (appendDuringHandle && events.some((e) => e.streamId === 'once-1')) {
          appendDuringHandle = false;
          await store.append('once-2', 'no_stream', [deposit(2)]);
        }
      },
    });
    try {
      await sub.caughtUp;
      await settled(store);
      const before = reads;
      const r = await store.append('once-1', 'no_stream', [deposit(1)]);
      const end = { transactionId: r.transactionId, position: r.streams[0]!.lastPosition };
      await sub.waitFor(end);
      await until(() => amountsOf(got, 'once-').length === 2);
      expect(amountsOf(got, 'once-')).toEqual([1, 2]);
      await settled(store);
      // once-1's read, once-2's read: nothing else (a wake-up at once-2's own append is the same one).
      expect(reads - before).toBe(2);
    } finally {
      await sub.stop();
      store.readAll = readAll;
    }
  });

  it('keep going across a PostgreSQL restart', async () => {
    const server = await startThrowawayPostgres();
    const db = await createTestDatabase(server.url);
    const pool = createPool(db.url);
    const store = new EventStore({ pool, registry: testEvents });
    const got: E[] = [];
    const errors: Error[] = [];
    try {
      await migrate(pool, [eventStoreMigrations]);
      const sub = store.subscribe({
        name: 'survivor',
        pollIntervalMs: 500,
        onError: (e) => errors.push(e),
        handle: (ev) => void got.push(...ev),
      });
      for (let i = 1; i <= 10; i++) await store.append('restart-1', 'any', [deposit(i)]);
      await sub.waitFor(await store.head());

      await server.restart();

      for (let i = 11; i <= 20; i++) {
        for (let attempt = 0; ; attempt++) {
          try {
            await store.append('restart-1', 'any', [deposit(i)], { commandId: `restart-${i}` });
            break;
          } catch (err) {
            if (attempt > 50) throw err; // pooled connections cut by the restart fail once each
            await new Promise((r) => setTimeout(r, 100));
          }
        }
      }
      await sub.waitFor(await store.head());
      await sub.stop();
      expect(amountsOf(got, 'restart-')).toEqual(Array.from({ length: 20 }, (_, i) => i + 1));
    } finally {
      await store.close();
      await pool.end();
      await server.stop();
    }
  });
});
