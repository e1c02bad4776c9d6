import { type GlobalPosition, guarded, START } from '@tianqi/events';
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

/** A checkpoint's columns as CheckpointRow reads them (every query for checkpoints selects these). */
const SELECT_CHECKPOINTS = 'SELECT name, version, transaction_id::text, position FROM projection_checkpoints';

const toCheckpoint = (r: CheckpointRow): Checkpoint => ({
  name: r.name,
  version: r.version,
  position: { transactionId: BigInt(r.transaction_id), position: BigInt(r.position) },
});

export async function loadCheckpoints(
  db: Queryable,
  names: readonly string[],
): Promise<Map<string, Checkpoint>> {
  const { rows } = await db.query<CheckpointRow>(`${SELECT_CHECKPOINTS} WHERE name = ANY($1)`, [names]);
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
    `${SELECT_CHECKPOINTS} WHERE name = ANY($1) ORDER BY name FOR UPDATE`,
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
 * One transaction of the runner's stage, two round trips shorter than BEGIN, lock, work, advance,
 * COMMIT: the BEGIN goes with the checkpoints' lock and the advance with the COMMIT, each pair as one
 * simple-protocol message. The names, versions and positions in them are the runner's own, written as
 * literals (checked to be plain names and integers). Its commit does not wait for the disk (see
 * ProjectionRunner). Any failure rolls back and gives the connection up.
 */
export async function inCheckpointedTransaction(
  pool: pg.Pool,
  names: readonly string[],
  work: (
    client: pg.PoolClient,
    checkpoints: Map<string, Checkpoint>,
  ) => Promise<{ advanced: readonly { name: string; version: number }[]; position: GlobalPosition }>,
): Promise<void> {
  const client = guarded(await pool.connect());
  try {
    const opened = (await client.query(
      `BEGIN; SET LOCAL synchronous_commit = off;
       ${SELECT_CHECKPOINTS} WHERE name IN (${names.map(nameLiteral).join(', ')}) ORDER BY name FOR UPDATE`,
    )) as unknown as pg.QueryResult<CheckpointRow>[];
    const checkpoints = new Map(opened[2]!.rows.map((r) => [r.name, toCheckpoint(r)]));
    const { advanced, position } = await work(client, checkpoints);
    if (advanced.length === 0) {
      await client.query('COMMIT');
    } else {
      const rows = advanced.map((r) => `(${nameLiteral(r.name)}, ${integer(r.version)})`).join(', ');
      await client.query(
        `UPDATE projection_checkpoints c SET version = v.version,
           transaction_id = '${integer(position.transactionId)}'::xid8, position = ${integer(position.position)},
           updated_at = now()
         FROM (VALUES ${rows}) AS v(name, version) WHERE c.name = v.name;
         COMMIT`,
      );
    }
    client.release();
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    client.release(err as Error);
    throw err;
  }
}

function nameLiteral(name: string): string {
  if (!/^[a-z][a-z0-9_]*$/.test(name)) throw new Error(`not a read model's name: ${JSON.stringify(name)}`);
  return `'${name}'`;
}

function integer(n: number | bigint): string {
  if (typeof n !== 'bigint' && !Number.isSafeInteger(n)) throw new Error(`not an integer: ${String(n)}`);
  return n.toString();
}

export { START };
