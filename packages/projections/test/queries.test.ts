import { createPool, eventStoreMigrations, type GlobalPosition, migrate } from '@tianqi/events';
import { createTestDatabase, type TestDatabase } from '@tianqi/infra';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Row } from '../src/fold-rows.js';
import {
  activeInstanceIds,
  driftTable,
  insertRows,
  instanceCountsByState,
  instancesByIds,
  instancesChangedSince,
  instancesTable,
  LIVE_SCHEMA,
  liveNodeIds,
  nodeCountsByDockerStatus,
  nodesTable,
  openDriftInstanceIds,
  shellTarget,
  shellTargetByName,
  shellTargets,
  type TableDef,
  tableDdl,
  usersTable,
} from '../src/index.js';

let db: TestDatabase;
let pool: pg.Pool;

/** A full row of the table: the given values, and a plain value of its type in every other NOT NULL column. */
function rowOf(table: TableDef, values: Row): Row {
  const row: Row = {};
  for (const [column, type] of Object.entries(table.columns)) {
    if (column in values) row[column] = values[column];
    else if (!type.includes('NOT NULL')) row[column] = null;
    else if (type.startsWith('text')) row[column] = '';
    else if (type.startsWith('boolean')) row[column] = false;
    else if (type.startsWith('jsonb')) row[column] = {};
    else if (type.startsWith('timestamptz')) row[column] = '2026-01-01T00:00:00.000Z';
    else row[column] = 0;
  }
  return row;
}

async function insert(table: TableDef, rows: Row[]): Promise<void> {
  const client = await pool.connect();
  try {
    await insertRows(
      { client, schema: LIVE_SCHEMA },
      table,
      rows.map((r) => rowOf(table, r)),
    );
  } finally {
    client.release();
  }
}

/** Appends a bare event to a stream (the queries read only its stream and position) and returns where. */
async function appendTo(streamId: string): Promise<GlobalPosition> {
  const { rows } = await pool.query<{ t: string; p: string }>(
    `INSERT INTO events (stream_id, stream_version, type, data, metadata)
     VALUES ($1, (SELECT count(*) + 1 FROM events WHERE stream_id = $1), 'Test', '{}', '{}')
     RETURNING transaction_id::text AS t, position::text AS p`,
    [streamId],
  );
  return { transactionId: BigInt(rows[0]!.t), position: BigInt(rows[0]!.p) };
}

const instance = (id: string, values: Row): Row => ({
  instance_id: id,
  name: id,
  owner_id: 'alice',
  node_id: 'n1',
  node_name: 'node-1',
  desired: 'running',
  observed: 'running',
  container_id: `c-${id}`,
  ...values,
});

beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, { max: 4 });
  await migrate(pool, [eventStoreMigrations]);
  await pool.query(
    `CREATE SCHEMA ${LIVE_SCHEMA}; ${[instancesTable, nodesTable, usersTable, driftTable]
      .map((t) => tableDdl(LIVE_SCHEMA, t))
      .join('; ')}`,
  );
  await insert(usersTable, [
    { user_id: 'alice', username: 'Alice', role: 'user' },
    { user_id: 'bob', username: 'bob', role: 'user' },
  ]);
  await insert(instancesTable, [
    instance('a1', { name: 'Train', created_at: '2026-01-01T00:00:00.000Z' }),
    instance('a2', { name: 'train', desired: 'deleted', observed: 'removed', container_id: null }),
    instance('a3', {
      name: 'zeta',
      node_id: 'n2',
      node_name: 'node-2',
      desired: 'stopped',
      observed: 'exited',
    }),
    instance('a4', { desired: 'deleted', observed: 'running', name: 'leaving' }),
    instance('a5', { observed: 'creating', container_id: null, name: 'new' }),
    instance('b1', { owner_id: 'bob', node_id: 'n2', node_name: 'node-2', name: 'Train' }),
  ]);
  await insert(nodesTable, [
    { node_id: 'n1', name: 'node-1', docker_status: 'connected' },
    { node_id: 'n2', name: 'node-2', docker_status: 'connected' },
    { node_id: 'n3', name: 'node-3', docker_status: 'unreachable' },
    { node_id: 'n4', name: 'node-4', docker_status: 'connected', deleted: true },
  ]);
  await insert(driftTable, [
    { drift_id: 'instance-a1:exited', subject: 'instance', instance_id: 'a1', kind: 'exited', open: true },
    {
      drift_id: 'instance-a1:wrong_node',
      subject: 'instance',
      instance_id: 'a1',
      kind: 'wrong_node',
      open: true,
    },
    {
      drift_id: 'instance-a3:wrong_node',
      subject: 'instance',
      instance_id: 'a3',
      kind: 'wrong_node',
      open: false,
    },
    {
      drift_id: 'node-n2:orphan:c9',
      subject: 'node',
      instance_id: 'b1',
      node_id: 'n2',
      kind: 'orphan',
      open: true,
    },
    {
      drift_id: 'node-n2:orphan:c8',
      subject: 'node',
      instance_id: null,
      node_id: 'n2',
      kind: 'orphan',
      open: true,
    },
  ]);
});
afterAll(async () => {
  await pool.end();
  await db.drop();
});

const sorted = (ids: readonly string[]) => [...ids].sort();

describe('instance queries', () => {
  it('active instances are those not deleted and removed, on every node or one', async () => {
    expect(sorted(await activeInstanceIds(pool))).toEqual(['a1', 'a3', 'a4', 'a5', 'b1']);
    expect(sorted(await activeInstanceIds(pool, { nodeId: 'n2' }))).toEqual(['a3', 'b1']);
    expect(await activeInstanceIds(pool, { nodeId: 'none' })).toEqual([]);
  });

  it('instances by id are rows in camelCase, only the owner’s when an owner is given', async () => {
    const rows = await instancesByIds(pool, ['a1', 'b1', 'zz']);
    expect(rows.map((r) => r.instanceId).sort()).toEqual(['a1', 'b1']);
    expect(rows.find((r) => r.instanceId === 'a1')).toMatchObject({ ownerId: 'alice', nodeName: 'node-1' });
    expect((await instancesByIds(pool, ['a1', 'b1'], { ownerId: 'bob' })).map((r) => r.instanceId)).toEqual([
      'b1',
    ]);
    expect(await instancesByIds(pool, [])).toEqual([]);
  });

  it('counts instances by desired and observed state, gone ones left out', async () => {
    const counts = await instanceCountsByState(pool);
    expect(
      counts.sort((x, y) => `${x.desired}/${x.observed}`.localeCompare(`${y.desired}/${y.observed}`)),
    ).toEqual([
      { desired: 'deleted', observed: 'running', count: 1 },
      { desired: 'running', observed: 'creating', count: 1 },
      { desired: 'running', observed: 'running', count: 2 },
      { desired: 'stopped', observed: 'exited', count: 1 },
    ]);
  });

  it('the instances changed since a position, the owner’s only, and null when too many did', async () => {
    const before = await appendTo('instance-a1');
    await appendTo('instance-a3');
    await appendTo('instance-b1');
    await appendTo('instance-a3');
    await appendTo('node-n1');
    await appendTo('instance-unknown');
    expect(sorted((await instancesChangedSince(pool, before)) ?? [])).toEqual(['a3', 'b1']);
    expect(await instancesChangedSince(pool, before, { ownerId: 'alice' })).toEqual(['a3']);
    const last = await appendTo('node-n1');
    expect(await instancesChangedSince(pool, last)).toEqual([]);

    // Over 500 instances changed: a resume is not worth it.
    const ids = Array.from({ length: 501 }, (_, i) => `many${i}`);
    await insert(
      instancesTable,
      ids.map((id) => instance(id, { owner_id: 'bob' })),
    );
    await pool.query(
      `INSERT INTO events (stream_id, stream_version, type, data, metadata)
       SELECT 'instance-' || id, 1, 'Test', '{}', '{}' FROM unnest($1::text[]) AS id`,
      [ids],
    );
    expect(await instancesChangedSince(pool, last)).toBeNull();
    expect(await instancesChangedSince(pool, last, { ownerId: 'alice' })).toEqual([]);
    await pool.query(`DELETE FROM ${LIVE_SCHEMA}.instances WHERE instance_id LIKE 'many%'`);
  });
});

describe('node and drift queries', () => {
  it('live nodes are those not deleted', async () => {
    expect(sorted(await liveNodeIds(pool))).toEqual(['n1', 'n2', 'n3']);
  });

  it('counts live nodes by Docker status', async () => {
    const counts = await nodeCountsByDockerStatus(pool);
    expect(counts.sort((x, y) => x.status.localeCompare(y.status))).toEqual([
      { status: 'connected', count: 2 },
      { status: 'unreachable', count: 1 },
    ]);
  });

  it('the instances with open drift: each once, of any kind or one', async () => {
    expect(sorted(await openDriftInstanceIds(pool))).toEqual(['a1', 'b1']);
    expect(await openDriftInstanceIds(pool, { kind: 'wrong_node' })).toEqual(['a1']);
    expect(await openDriftInstanceIds(pool, { kind: 'orphan' })).toEqual(['b1']);
    expect(await openDriftInstanceIds(pool, { kind: 'missing' })).toEqual([]);
  });
});

describe('shell targets', () => {
  it('lists instances with a container that are not on their way out, one owner’s or everyone’s', async () => {
    const all = await shellTargets(pool, { ownerId: null });
    expect(all.map((t) => `${t.ownerName}/${t.name}`)).toEqual(['Alice/Train', 'Alice/zeta', 'bob/Train']);
    expect(all[0]).toEqual({
      instanceId: 'a1',
      name: 'Train',
      ownerId: 'alice',
      ownerName: 'Alice',
      containerId: 'c-a1',
      nodeName: 'node-1',
      observed: 'running',
    });
    expect((await shellTargets(pool, { ownerId: 'bob' })).map((t) => t.instanceId)).toEqual(['b1']);
  });

  it('finds one by owner name and instance name in any case, not one being deleted', async () => {
    expect((await shellTargetByName(pool, 'alice', 'TRAIN'))?.instanceId).toBe('a1');
    expect((await shellTargetByName(pool, 'BOB', 'train'))?.instanceId).toBe('b1');
    expect(await shellTargetByName(pool, 'alice', 'leaving')).toBeNull();
    expect(await shellTargetByName(pool, 'carol', 'train')).toBeNull();
    // One without a container yet is still found by name (opening it is the caller's question).
    expect(await shellTargetByName(pool, 'alice', 'new')).toMatchObject({
      instanceId: 'a5',
      containerId: null,
    });
  });

  it('reads one by id whatever its state', async () => {
    expect(await shellTarget(pool, 'a2')).toMatchObject({
      instanceId: 'a2',
      ownerName: 'Alice',
      containerId: null,
    });
    expect(await shellTarget(pool, 'zz')).toBeNull();
  });
});
