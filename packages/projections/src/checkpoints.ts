import { type GlobalPosition, START } from '@tianqi/events';
import type pg from 'pg';

export interface Checkpoint {
  name: string;
  version: number;
  position: GlobalPosition;
}

type Queryable = Pick<pg.Pool, 'query'> | pg.PoolClient;

interface CheckpointRow {
  name: string;
  version: number;
  transaction_id: string;
  position: string;
}

const toCheckpoint = (r: CheckpointRow): Checkpoint => ({
  name: r.name,
  version: r.version,
  position: { transactionId: BigInt(r.transaction_id), position: BigInt(r.position) },
});

export async function loadCheckpoints(
  db: Queryable,
  names: readonly string[],
): Promise<Map<string, Checkpoint>> {
  const { rows } = await db.query<CheckpointRow>(
    `SELECT name, version, transaction_id::text, position FROM projection_checkpoints WHERE name = ANY($1)`,
    [names],
  );
  return new Map(rows.map((r) => [r.name, toCheckpoint(r)]));
}

/**
 * Locks the checkpoints of these read models for the rest of the transaction, always in name order (the
 * runner and a rebuild both lock several, and the same order means neither waits on the other in a
 * cycle). Read models with no checkpoint yet get none here.
 */
export async function lockCheckpoints(
  client: pg.PoolClient,
  names: readonly string[],
): Promise<Map<string, Checkpoint>> {
  const { rows } = await client.query<CheckpointRow>(
    `SELECT name, version, transaction_id::text, position FROM projection_checkpoints
     WHERE name = ANY($1) ORDER BY name FOR UPDATE`,
    [names],
  );
  return new Map(rows.map((r) => [r.name, toCheckpoint(r)]));
}

export async function saveCheckpoint(
  client: pg.PoolClient,
  name: string,
  version: number,
  position: GlobalPosition,
  rebuilt = false,
): Promise<void> {
  await client.query(
    `INSERT INTO projection_checkpoints (name, version, transaction_id, position)
     VALUES ($1, $2, $3::text::xid8, $4)
     ON CONFLICT (name) DO UPDATE SET version = excluded.version, transaction_id = excluded.transaction_id,
       position = excluded.position, updated_at = now()${rebuilt ? ', rebuilt_at = now()' : ''}`,
    [name, version, position.transactionId.toString(), position.position.toString()],
  );
}

/**
 * Moves several read models' checkpoints (locked above, so their rows exist) to one position in one
 * statement: the runner's stage moves all of its read models at every batch.
 */
export async function advanceCheckpoints(
  client: pg.PoolClient,
  readModels: readonly { name: string; version: number }[],
  position: GlobalPosition,
): Promise<void> {
  if (readModels.length === 0) return;
  await client.query(
    `UPDATE projection_checkpoints c SET version = v.version, transaction_id = $3::text::xid8,
       position = $4, updated_at = now()
     FROM unnest($1::text[], $2::int[]) AS v(name, version) WHERE c.name = v.name`,
    [
      readModels.map((r) => r.name),
      readModels.map((r) => r.version),
      position.transactionId.toString(),
      position.position.toString(),
    ],
  );
}

export { START };
