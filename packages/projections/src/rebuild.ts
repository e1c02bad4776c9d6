import { comparePositions, type GlobalPosition, START } from '@tianqi/events';
import type pg from 'pg';
import { lockCheckpoints, saveCheckpoint } from './checkpoints.js';
import type { PlatformStore } from './platform-events.js';
import { LIVE_SCHEMA, type Projection, tableDdl } from './projection.js';

export interface RebuildProgress {
  events: number;
  /** Where the read has got to, and the newest position when the rebuild started: for a progress bar. */
  position: bigint;
  headPosition: bigint;
}

export interface RebuildOptions {
  batchSize?: number;
  onProgress?: (progress: RebuildProgress) => void;
}

export interface RebuildResult {
  projections: string[];
  events: number;
  seconds: number;
  position: GlobalPosition;
}

// Held for the whole rebuild, so two rebuilds (two servers starting, or the CLI and a server) take turns.
const REBUILD_LOCK = 0x7471_7265_6275; // "tqrebu"

export const buildSchema = (p: Projection) => `rm_build_${p.name}`;

/**
 * Rebuilds read models from the whole log without stopping anyone: the new tables are filled in a
 * schema of their own in short transactions (readers and the live runner go on using the old ones),
 * then one short transaction locks the checkpoints, applies what arrived meanwhile and swaps the
 * tables in. Events are read once for all the read models being rebuilt, the next batch read while
 * the current one is written.
 */
export async function rebuildProjections(
  store: PlatformStore,
  projections: readonly Projection[],
  options: RebuildOptions = {},
): Promise<RebuildResult> {
  const started = performance.now();
  const pool = store.pool;
  const batchSize = options.batchSize ?? 5_000;
  const lock = await pool.connect();
  try {
    await lock.query('SELECT pg_advisory_lock($1)', [REBUILD_LOCK]);
    for (const p of projections) {
      const schema = buildSchema(p);
      await pool.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE; CREATE SCHEMA ${schema}`);
      for (const table of p.tables) await pool.query(tableDdl(schema, table));
    }
    const { rows } = await pool.query<{ max: string | null }>(
      'SELECT max(position)::text AS max FROM events',
    );
    const headPosition = BigInt(rows[0]?.max ?? 0);

    let position: GlobalPosition = START;
    let events = 0;
    const applyAll = async (client: pg.PoolClient, batch: Awaited<ReturnType<PlatformStore['readAll']>>) => {
      for (const p of projections) await p.apply({ client, schema: buildSchema(p) }, batch.events);
      position = batch.next;
      events += batch.events.length;
      options.onProgress?.({ events, position: position.position, headPosition });
    };

    // Fill the new tables, reading ahead while writing.
    let pending = store.readAll(position, batchSize);
    for (;;) {
      const batch = await pending;
      if (batch.events.length === 0) break;
      pending = store.readAll(batch.next, batchSize);
      await inTransaction(pool, (client) => applyAll(client, batch));
    }

    // Swap them in, with what arrived meanwhile, while the live runner waits on the checkpoints.
    await inTransaction(pool, async (client) => {
      await lockCheckpoints(
        client,
        projections.map((p) => p.name),
      );
      for (;;) {
        const batch = await store.readAll(position, batchSize);
        if (batch.events.length === 0) break;
        await applyAll(client, batch);
      }
      for (const p of projections) {
        for (const table of p.tables) {
          await client.query(`DROP TABLE IF EXISTS ${LIVE_SCHEMA}.${table.name}`);
          await client.query(`ALTER TABLE ${buildSchema(p)}.${table.name} SET SCHEMA ${LIVE_SCHEMA}`);
        }
        await client.query(`DROP SCHEMA ${buildSchema(p)}`);
        await saveCheckpoint(client, p.name, p.version, position, true);
      }
    });
    return {
      projections: projections.map((p) => p.name),
      events,
      seconds: (performance.now() - started) / 1000,
      position,
    };
  } finally {
    await lock.query('SELECT pg_advisory_unlock($1)', [REBUILD_LOCK]).catch(() => {});
    lock.release();
  }
}

export async function inTransaction<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
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
