import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase } from '@tianqi/infra';
import { describe, expect, it } from 'vitest';
import { createPool, EventStore, eventStoreMigrations, migrate } from '../src/index.js';
import { amountOf, deposit, testEvents } from './fixtures.js';

describe('migrations', () => {
  it('bring a fresh database up, and a second run changes nothing', async () => {
    const db = await createTestDatabase();
    const pool = createPool(db.url);
    try {
      const applied = await migrate(pool, [eventStoreMigrations]);
      expect(applied.map((m) => `${m.component}/${m.version}`)).toEqual([
        'events/1',
        'events/2',
        'events/3',
        'events/4',
      ]);
      expect(await migrate(pool, [eventStoreMigrations])).toEqual([]);
      const store = new EventStore({ pool, registry: testEvents });
      await store.append('acct', 'no_stream', [deposit(1)]);
      expect(await store.streamVersion('acct')).toBe(1);
    } finally {
      await pool.end();
      await db.drop();
    }
  });

  it('bring an older database up to date and keep its events', async () => {
    const db = await createTestDatabase();
    const pool = createPool(db.url);
    try {
      await migrate(pool, [eventStoreMigrations], { upTo: { events: 1 } });
      await pool.query(
        `INSERT INTO events (stream_id, stream_version, type, data, metadata)
         VALUES ('old-acct', 1, 'Deposited', '{"amount": 5}', '{}')`,
      );
      const applied = await migrate(pool, [eventStoreMigrations]);
      expect(applied.map((m) => m.version)).toEqual([2, 3, 4]);
      const store = new EventStore({ pool, registry: testEvents });
      await store.append('old-acct', 1, [deposit(6)], { commandId: 'after-upgrade' });
      expect((await store.readStream('old-acct')).map(amountOf)).toEqual([5, 6]);
    } finally {
      await pool.end();
      await db.drop();
    }
  });

  it('refuse a migration that changed after it was applied', async () => {
    const db = await createTestDatabase();
    const pool = createPool(db.url);
    const dir = await mkdtemp(join(tmpdir(), 'tianqi-mig-'));
    try {
      await writeFile(join(dir, '0001_things.sql'), 'CREATE TABLE things (id int);');
      await migrate(pool, [{ component: 'things', directory: dir }]);
      await writeFile(join(dir, '0001_things.sql'), 'CREATE TABLE things (id bigint);');
      await expect(migrate(pool, [{ component: 'things', directory: dir }])).rejects.toThrow(
        /things\/1_things changed after it was applied/,
      );
      await writeFile(join(dir, '0001_things.sql'), 'CREATE TABLE things (id int);');
      await writeFile(join(dir, '0002_broken.sql'), 'CREATE TABLE nope (;');
      await expect(migrate(pool, [{ component: 'things', directory: dir }])).rejects.toThrow(
        /migration things\/2_broken failed/,
      );
      const { rows } = await pool.query(`SELECT version FROM schema_migrations WHERE component = 'things'`);
      expect(rows).toEqual([{ version: 1 }]);
    } finally {
      await pool.end();
      await db.drop();
    }
  });
});
