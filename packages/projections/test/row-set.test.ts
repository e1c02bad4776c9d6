import { createPool } from '@tianqi/events';
import { createTestDatabase, type TestDatabase } from '@tianqi/infra';
import type pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeEvent,
  insertRows,
  type PlatformEvent,
  RebuildCache,
  RowSet,
  type TableDef,
  tableDdl,
} from '../src/index.js';

const table: TableDef = {
  name: 'things',
  key: ['id'],
  columns: {
    id: 'text NOT NULL',
    label: 'text',
    data: 'jsonb',
    flag: 'boolean NOT NULL',
    price: 'numeric(14,2)',
    ratio: 'double precision',
    at: 'timestamptz',
  },
};

/** Values that break naive text encodings: tabs, newlines, backslashes, the COPY null marker, CJK. */
const nasty = [
  {
    id: 'a',
    label: 'tab\there',
    data: { s: 'line\nbreak', t: 'back\\slash' },
    flag: true,
    price: 2.5,
    ratio: 0.1,
    at: '2026-11-22T10:00:00.123Z',
  },
  { id: 'b', label: '\\N', data: ['\\N', null, '\r'], flag: false, price: 0, ratio: -1e-9, at: null },
  {
    id: 'c',
    label: "引号\"与'撇号'",
    data: { emoji: '🚀', nested: { deep: [1, 2, { x: '\t' }] } },
    flag: true,
    price: null,
    ratio: null,
    at: '1999-12-31T23:59:59.999Z',
  },
  {
    id: 'd',
    label: null,
    data: null,
    flag: false,
    price: 1234567.89,
    ratio: 3.5,
    at: '2026-01-01T00:00:00.000Z',
  },
];

let db: TestDatabase;
let pool: pg.Pool;
let client: pg.PoolClient;
beforeAll(async () => {
  db = await createTestDatabase();
  pool = createPool(db.url, { max: 4 });
  client = await pool.connect();
});
afterAll(async () => {
  client.release();
  await pool.end();
  await db.drop();
});

async function rowsIn(schema: string) {
  const { rows } = await client.query(
    `SELECT id, label, data, flag, price::float8 AS price, ratio, to_char(at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS at
     FROM ${schema}.things ORDER BY id`,
  );
  return rows;
}

describe('writing read-model rows', () => {
  it('appends rows through COPY exactly as given, whatever characters they hold', async () => {
    await client.query(`CREATE SCHEMA live; ${tableDdl('live', table)}`);
    await insertRows({ client, schema: 'live' }, table, nasty);
    expect(await rowsIn('live')).toEqual(nasty);
  });

  it('a rebuild cache writes the same rows at its spill, then reads them back and upserts changes', async () => {
    await client.query(`CREATE SCHEMA build; ${tableDdl('build', table)}`);
    const cache = new RebuildCache(2);
    const ctx = { client, schema: 'build', cache };
    const rows = new RowSet<Record<string, unknown>>(ctx, table);
    await rows.load(nasty.map((r) => r.id));
    for (const r of nasty) rows.set(r.id, { ...r });
    await rows.flush(); // nothing written yet: the cache holds the rows
    expect(await rowsIn('build')).toEqual([]);
    expect(cache.full).toBe(true);
    const inTransaction = async (p: pg.Pool, fn: (c: pg.PoolClient) => Promise<void>) => {
      const c = await p.connect();
      try {
        await fn(c);
      } finally {
        c.release();
      }
    };
    await cache.spill(pool, inTransaction);
    expect(await rowsIn('build')).toEqual(nasty);
    // After a spill, rows come back from the table and changes are upserted.
    const again = new RowSet<Record<string, unknown>>(ctx, table);
    await again.load(['a', 'z']);
    expect(again.get('a')).toMatchObject({
      label: 'tab\there',
      data: { s: 'line\nbreak', t: 'back\\slash' },
    });
    expect(again.get('z')).toBeUndefined();
    again.set('a', { ...again.get('a')!, label: 'changed' });
    await cache.spill(pool, inTransaction);
    expect((await rowsIn('build'))[0]).toMatchObject({ id: 'a', label: 'changed', flag: true });
    // A row deleted after a spill is deleted from the table at the next; one made and deleted in
    // memory never reaches it.
    const third = new RowSet<Record<string, unknown>>(ctx, table);
    await third.load(['b']);
    third.delete('b');
    third.set('y', { ...nasty[3]!, id: 'y' });
    third.delete('y');
    await cache.spill(pool, inTransaction);
    expect((await rowsIn('build')).map((r) => r.id)).toEqual(['a', 'c', 'd']);
  });

  it('a live row set deletes the rows it was told are gone, in the same write as its changes', async () => {
    await client.query(`CREATE SCHEMA gone; ${tableDdl('gone', table)}`);
    await insertRows({ client, schema: 'gone' }, table, nasty);
    const rows = new RowSet<Record<string, unknown>>({ client, schema: 'gone' }, table);
    await rows.load(['a', 'c']);
    rows.delete('a');
    rows.set('c', { ...rows.get('c')!, label: 'kept' });
    await rows.flush();
    const left = await rowsIn('gone');
    expect(left.map((r) => [r.id, r.label])).toEqual([
      ['b', '\\N'],
      ['c', 'kept'],
      ['d', null],
    ]);
  });
});

describe('event descriptions', () => {
  it('say what happened in one line and never show a secret', () => {
    const sealed = `v1.${'a'.repeat(16)}.${'b'.repeat(22)}.c2VjcmV0`;
    const line = describeEvent({
      type: 'NodeUpdated',
      data: { changes: { sshPassword: sealed, remark: 'rack 4' } },
    } as PlatformEvent);
    expect(line).toBe('changed node sshPassword, remark');
    expect(line).not.toContain(sealed);
    expect(
      describeEvent({ type: 'ContainerExited', data: { exitCode: 137, oomKilled: true } } as PlatformEvent),
    ).toBe('container exited with code 137 (out of memory)');
  });
});
