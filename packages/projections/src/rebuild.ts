import { comparePositions, type GlobalPosition, guarded, START } from '@tianqi/events';
import type pg from 'pg';
import { loadCheckpoints, lockCheckpoints, saveCheckpoint } from './checkpoints.js';
import type { PlatformEvent, PlatformStore } from './platform-events.js';
import { LIVE_SCHEMA, type Projection } from './projection.js';
import { RebuildCache } from './rebuild-cache.js';
import { indexDdl, tableDdl } from './table-def.js';

export interface RebuildProgress {
  events: number;
  /** Where the read has got to, and the newest position when the rebuild started: for a progress bar. */
  position: bigint;
  headPosition: bigint;
}

export interface RebuildOptions {
  batchSize?: number;
  /** Rows held in memory before they are written out (see RebuildCache). */
  cacheRows?: number;
  /**
   * Only the read models whose stored definition is still older than this code's, checked once the
   * rebuild lock is held: two servers starting at once rebuild each read model once, not twice.
   */
  onlyStale?: boolean;
  onProgress?: (progress: RebuildProgress) => void;
}

export interface RebuildResult {
  projections: string[];
  events: number;
  seconds: number;
  position: GlobalPosition;
  /** Milliseconds spent replaying the log, writing tables and indexes after it, and swapping. */
  phases: { replayMs: number; writeMs: number; swapMs: number };
}

// Held for the whole rebuild, so two rebuilds (two servers starting, or the CLI and a server) take turns.
const REBUILD_LOCK = 0x7471_7265_6275; // "tqrebu"

export const buildSchema = (p: Projection) => `rm_build_${p.name}`;

/**
 * Rebuilds read models from the whole log without stopping anyone. The new tables are filled in a
 * schema of their own (readers and the live runner go on using the old ones): read models that can
 * fill themselves from the events table in one statement, inside PostgreSQL, while this process
 * replays the log for the others — each batch read once for all of them, the next read while this one
 * is folded into rows held in memory, written with COPY at the end (or when memory is full). Indexes
 * are made once the tables are full. Then one short transaction locks the checkpoints, applies what
 * arrived meanwhile, and swaps the tables in.
 */
export async function rebuildProjections(
  store: PlatformStore,
  chosen: readonly Projection[],
  options: RebuildOptions = {},
): Promise<RebuildResult> {
  const started = performance.now();
  const pool = store.pool;
  let projections = chosen;
  const batchSize = options.batchSize ?? 5_000;
  const lock = guarded(await pool.connect());
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [REBUILD_LOCK]);
    if (options.onlyStale) {
      const built = await loadCheckpoints(
        pool,
        projections.map((p) => p.name),
      );
      projections = projections.filter((p) => (built.get(p.name)?.version ?? 0) < p.version);
      if (projections.length === 0) {
        return {
          projections: [],
          events: 0,
          seconds: 0,
          position: START,
          phases: { replayMs: 0, writeMs: 0, swapMs: 0 },
        };
      }
    }
    for (const p of projections) {
      const schema = buildSchema(p);
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
      for (const table of p.tables) await pool.query(tableDdl(schema, table));
    }
    const { rows } = await pool.query<{ max: string | null }>(
      'SELECT max(position)::text AS max FROM events',
    );
    const headPosition = BigInt(rows[0]?.max ?? 0);
    // Each index built on its own connection: they only read the table, so they go side by side.
    const indexes = (p: Projection) =>
      Promise.all(p.tables.flatMap((t) => indexDdl(buildSchema(p), t)).map((sql) => pool.query(sql)));

    // Where each read model has got to.
    const reached = new Map<string, GlobalPosition>();
    const filled = projections.filter((p) => p.fillFromLog);
    const replayed = projections.filter((p) => !p.fillFromLog);

    const head = await store.head();
    const fill = () =>
      Promise.all(
        filled.map(async (p) => {
          const count = await inTransaction(
            pool,
            (client) => p.fillFromLog!({ client, schema: buildSchema(p) }, head),
            {
              durable: false,
            },
          );
          await indexes(p);
          reached.set(p.name, head);
          return count;
        }),
      );

    let events = 0;
    let position: GlobalPosition = START;
    const progress = (batch: { events: unknown[]; next: GlobalPosition }) => {
      events += batch.events.length;
      position = batch.next;
      options.onProgress?.({ events, position: position.position, headPosition });
    };
    const phaseStart = performance.now();
    // The bulk fills run in the server while this process replays the log. A replay that fails waits
    // for them before it says so (the next rebuild drops their schemas), and their own failure is
    // then not left unhandled (it would end the process).
    const filling = fill();
    filling.catch(() => {});
    let replayMs = 0;
    try {
      if (replayed.length > 0) {
        const cache = new RebuildCache(options.cacheRows);
        const spill = () => cache.spill(pool, (pool, fn) => inTransaction(pool, fn, { durable: false }));
        const client = guarded(await pool.connect());
        // The next batch is read while this one is applied.
        let pending = store.readAll(START, batchSize);
        try {
          for (;;) {
            const batch = await pending;
            if (batch.events.length === 0) break;
            pending = store.readAll(batch.next, batchSize);
            for (const p of replayed) await p.apply({ client, schema: buildSchema(p), cache }, batch.events);
            progress(batch);
            if (cache.full) await spill();
          }
          client.release();
        } catch (err) {
          pending.catch(() => {});
          client.release(err as Error);
          throw err;
        }
        replayMs = performance.now() - phaseStart;
        await spill();
        await Promise.all(replayed.map(indexes));
        for (const p of replayed) reached.set(p.name, position);
      }
    } catch (err) {
      await filling.catch(() => {});
      throw err;
    }
    const filledCounts = await filling;
    if (replayed.length === 0) events = filledCounts[0] ?? 0;

    const writeMs = performance.now() - phaseStart - replayMs;
    const swapStart = performance.now();
    // Swap them in, with what arrived meanwhile, while the live runner waits on the checkpoints.
    const final = await inTransaction(pool, async (client) => {
      await lockCheckpoints(
        client,
        projections.map((p) => p.name),
      );
      let from = [...reached.values()].reduce((min, p) => (comparePositions(p, min) < 0 ? p : min));
      for (;;) {
        const batch = await store.readAll(from, batchSize);
        if (batch.events.length === 0) break;
        for (const p of projections) {
          const since = reached.get(p.name)!;
          const fresh = batch.events.filter((e: PlatformEvent) => isAfter(e, since));
          if (fresh.length > 0) await p.apply({ client, schema: buildSchema(p) }, fresh);
          reached.set(p.name, batch.next);
        }
        from = batch.next;
      }
      for (const p of projections) {
        for (const table of p.tables) {
          await client.query(`DROP TABLE IF EXISTS ${LIVE_SCHEMA}.${table.name}`);
          await client.query(`ALTER TABLE ${buildSchema(p)}.${table.name} SET SCHEMA ${LIVE_SCHEMA}`);
        }
        await client.query(`DROP SCHEMA ${buildSchema(p)}`);
        await saveCheckpoint(client, p.name, p.version, reached.get(p.name)!, true);
      }
      return reached.get(projections[0]!.name)!;
    });
    return {
      projections: projections.map((p) => p.name),
      events,
      seconds: (performance.now() - started) / 1000,
      position: final,
      phases: { replayMs, writeMs, swapMs: performance.now() - swapStart },
    };
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [REBUILD_LOCK]).catch(() => {});
    lock.release();
  }
}

export async function inTransaction<T>(
  pool: pg.Pool,
  fn: (client: pg.PoolClient) => Promise<T>,
  options: { durable?: boolean } = {},
): Promise<T> {
  const client = guarded(await pool.connect());
  try {
    // Work that is redone anyway after a crash need not wait for its commit to reach the disk (said
    // with the BEGIN: one round trip, not two).
    await client.query(options.durable === false ? 'BEGIN; SET LOCAL synchronous_commit = off' : 'BEGIN');
    const result = await fn(client);
    await client.query('COMMIT');
    client.release();
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    client.release(err as Error);
    throw err;
  }
}

/** True when `a` is after `b` in the global order. */
export const isAfter = (a: GlobalPosition, b: GlobalPosition) => comparePositions(a, b) > 0;
