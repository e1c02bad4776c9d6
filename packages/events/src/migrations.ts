import { createHash } from 'node:crypto';
import { readdir, readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import type pg from 'pg';
import { guarded } from './with-client.js';

/** A folder of `NNNN_name.sql` files owned by one component (the event store, projections, …). */
export interface MigrationSet {
  readonly component: string;
  readonly directory: string;
}

export interface AppliedMigration {
  component: string;
  version: number;
  name: string;
}

/** The event store's own migrations, shipped beside `src`/`dist` in `migrations/`. */
export const eventStoreMigrations: MigrationSet = {
  component: 'events',
  directory: fileURLToPath(new URL('../migrations/', import.meta.url)),
};

// One lock for every process that migrates this database, so two starting servers take turns.
const MIGRATION_LOCK = 0x7469_616e_7169; // "tianqi"

interface MigrationFile {
  version: number;
  name: string;
  sql: string;
  checksum: string;
}

async function loadSet(set: MigrationSet, upTo?: number): Promise<MigrationFile[]> {
  const files = (await readdir(set.directory)).filter((f) => f.endsWith('.sql')).sort();
  const out: MigrationFile[] = [];
  for (const file of files) {
    const match = /^(\d{4})_([a-z0-9_]+)\.sql$/.exec(file);
    if (!match) throw new Error(`migration file ${set.component}/${file} is not named NNNN_name.sql`);
    const version = Number(match[1]);
    if (upTo !== undefined && version > upTo) continue;
    const sql = await readFile(`${set.directory}/${file}`, 'utf8');
    out.push({ version, name: match[2]!, sql, checksum: createHash('sha256').update(sql).digest('hex') });
  }
  return out;
}

/**
 * Brings the database up to the newest migration of every set, each migration in its own transaction
 * with its bookkeeping row. Applied migrations whose file changed since are refused, not re-run.
 * `upTo` (per component) stops early: tests use it to make an "older" database.
 */
export async function migrate(
  pool: pg.Pool,
  sets: readonly MigrationSet[],
  options: { upTo?: Record<string, number> } = {},
): Promise<AppliedMigration[]> {
  const client = guarded(await pool.connect());
  const applied: AppliedMigration[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK]);
    await client.query(`CREATE TABLE IF NOT EXISTS schema_migrations (
      component  text NOT NULL,
      version    integer NOT NULL,
      name       text NOT NULL,
      checksum   text NOT NULL,
      applied_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (component, version))`);
    for (const set of sets) {
      const done = new Map<number, string>();
      const rows = await client.query<{ version: number; checksum: string }>(
        'SELECT version, checksum FROM schema_migrations WHERE component = $1',
        [set.component],
      );
      for (const row of rows.rows) done.set(row.version, row.checksum);
      for (const m of await loadSet(set, options.upTo?.[set.component])) {
        const seen = done.get(m.version);
        if (seen !== undefined) {
          if (seen !== m.checksum) {
            throw new Error(
              `migration ${set.component}/${m.version}_${m.name} changed after it was applied; add a new migration instead`,
            );
          }
          continue;
        }
        await client.query('BEGIN');
        try {
          await client.query(m.sql);
          await client.query(
            'INSERT INTO schema_migrations (component, version, name, checksum) VALUES ($1, $2, $3, $4)',
            [set.component, m.version, m.name, m.checksum],
          );
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw new Error(
            `migration ${set.component}/${m.version}_${m.name} failed: ${(err as Error).message}`,
            {
              cause: err,
            },
          );
        }
        applied.push({ component: set.component, version: m.version, name: m.name });
      }
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK]).catch(() => {});
    client.release();
  }
  return applied;
}
