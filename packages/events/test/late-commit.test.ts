import { describe, expect, it } from 'vitest';
import { type GlobalPosition, START } from '../src/index.js';
import { deposit, useStore } from './fixtures.js';

const ctx = useStore(40);

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Runs an append inside a transaction that stays open for `holdMs` before it commits (or rolls back). */
async function heldAppend(streamId: string, amount: number, holdMs: number, rollback = false): Promise<void> {
  const client = await ctx.store.pool.connect();
  try {
    await client.query('BEGIN');
    const { sql, params } = ctx.store.prepareAppend([
      { streamId, expectedVersion: 'any', events: [deposit(amount)] },
    ]);
    await client.query(sql, params);
    await sleep(holdMs);
    await client.query(rollback ? 'ROLLBACK' : 'COMMIT');
  } finally {
    client.release();
    ctx.store.notifier.appended();
  }
}

describe('an event that commits late is never skipped', () => {
  it('where a reader following a bare identity column would skip it', async () => {
    const client = await ctx.store.pool.connect();
    const { sql, params } = ctx.store.prepareAppend([
      { streamId: 'late-x', expectedVersion: 'no_stream', events: [deposit(1)] },
    ]);
    await client.query('BEGIN');
    await client.query(sql, params); // takes the lower position, commits last
    await ctx.store.append('late-y', 'no_stream', [deposit(2)]);

    const naive = await ctx.store.pool.query<{ position: string; stream_id: string }>(
      'SELECT position, stream_id FROM events ORDER BY position',
    );
    const naiveCheckpoint = BigInt(naive.rows.at(-1)!.position);
    expect(naive.rows.map((r) => r.stream_id)).toEqual(['late-y']);
    const ours = await ctx.store.readAll(START);
    expect(ours.events).toEqual([]);
    expect(ours.blocked).toBe(true);

    await client.query('COMMIT');
    client.release();

    const naiveAfter = await ctx.store.pool.query('SELECT stream_id FROM events WHERE position > $1', [
      naiveCheckpoint.toString(),
    ]);
    expect(naiveAfter.rows).toEqual([]); // the bare reader has lost late-x for good
    const oursAfter = await ctx.store.readAll(START);
    expect(oursAfter.events.map((e) => e.streamId)).toEqual(['late-x', 'late-y']);
    expect(oursAfter.blocked).toBe(false);
  });

  it.each(Array.from({ length: 20 }, (_, i) => i + 1))(
    'round %i: concurrent appenders, some holding their transaction open, one follower sees each event once',
    async (round) => {
      const prefix = `r${round}-`;
      const seen: { position: bigint; streamId: string; version: number }[] = [];
      const sub = ctx.store.subscribe({
        from: await ctx.store.head(),
        batchSize: 50,
        pollIntervalMs: 200,
        handle: (events) => {
          for (const e of events) {
            if (e.streamId.startsWith(prefix))
              seen.push({ position: e.position, streamId: e.streamId, version: e.version });
          }
        },
      });
      const appenders = Array.from({ length: 12 }, async (_, w) => {
        for (let i = 0; i < 15; i++) {
          const stream = `${prefix}s${(w + i) % 5}`;
          if ((w + i) % 4 === 0) {
            await heldAppend(stream, i + 1, 5 + ((w * 7 + i * 13) % 35), (w + i) % 12 === 0);
          } else if (i % 5 === 0) {
            await ctx.store.appendMany([
              { streamId: stream, expectedVersion: 'any', events: [deposit(1)] },
              { streamId: `${prefix}pair${w}`, expectedVersion: 'any', events: [deposit(2), deposit(3)] },
            ]);
          } else {
            await ctx.store.append(stream, 'any', [deposit(i + 1)]);
          }
        }
      });
      await Promise.all(appenders);

      const committed = await ctx.store.pool.query<{
        position: string;
        stream_id: string;
        stream_version: number;
      }>(`SELECT position, stream_id, stream_version FROM events WHERE stream_id LIKE $1`, [`${prefix}%`]);
      const head: GlobalPosition = await ctx.store.head();
      await sub.waitFor(head);
      await sub.stop();

      const expected = committed.rows
        .map((r) => BigInt(r.position))
        .sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
      const delivered = seen.map((e) => e.position);
      expect(new Set(delivered).size).toBe(delivered.length); // exactly once
      expect([...delivered].sort((a, b) => (a < b ? -1 : a > b ? 1 : 0))).toEqual(expected); // all, nothing else
      const lastVersion = new Map<string, number>();
      for (const e of seen) {
        // in each stream's own order, with no gap
        expect(e.version).toBe((lastVersion.get(e.streamId) ?? 0) + 1);
        lastVersion.set(e.streamId, e.version);
      }
      expect(expected.length).toBeGreaterThan(150);
    },
  );
});
