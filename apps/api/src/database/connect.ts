import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPool, eventStoreMigrations, type MigrationSet, migrate } from '@tianqi/events';
import { projectionMigrations } from '@tianqi/projections';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Config } from '../config/schema.js';
import { settleWithin } from '../shutdown/settle-within.js';
import { StartError } from '../start-error.js';
import { describeConnectError } from './connect-error.js';
import { type EmbeddedDatabase, runningEmbeddedPostgres, startEmbeddedPostgres } from './embedded.js';

export interface Database {
  pool: pg.Pool;
  url: string;
  embedded: boolean;
  close(): Promise<void>;
}

/** The API's own tables (sessions), beside the event store's and the read models'. */
export const apiMigrations: MigrationSet = {
  component: 'api',
  directory: fileURLToPath(new URL('../../migrations/', import.meta.url)),
};

/**
 * Connects to DATABASE_URL, or starts the embedded PostgreSQL, and applies every migration. With
 * `shareRunning` (the short commands: admin create, migrate, rebuild-projections), an embedded
 * PostgreSQL of this data-dir that a running server started is used as it is, and left running.
 */
export async function openDatabase(
  config: Config,
  log: Logger,
  options: { shareRunning?: boolean } = {},
): Promise<Database> {
  const embedded = config.database.url === '' ? await embeddedDatabase(config, log, options) : null;
  const url = embedded?.url ?? config.database.url;
  const pool = createPool(url, {
    max: config.database['pool-size'],
    onError: (err) => log.warn({ err }, 'a pooled database connection failed'),
  });
  try {
    const applied = await migrate(pool, [eventStoreMigrations, projectionMigrations, apiMigrations]);
    for (const m of applied)
      log.info({ migration: `${m.component}/${m.version}_${m.name}` }, 'migration applied');
  } catch (err) {
    // Bounded: a connection refused mid-authentication (no password for SCRAM) is left open by pg
    // until the server's authentication timeout, a minute later.
    await settleWithin([pool.end()], 2_000);
    await embedded?.stop();
    throw describeConnectError(err, url) ?? err;
  }
  return {
    pool,
    url,
    embedded: embedded !== null,
    close: async () => {
      await pool.end();
      await embedded?.stop();
    },
  };
}

async function embeddedDatabase(
  config: Config,
  log: Logger,
  options: { shareRunning?: boolean },
): Promise<EmbeddedDatabase> {
  const dataDir = config['data-dir'];
  const running = await runningEmbeddedPostgres(dataDir);
  if (running && options.shareRunning) {
    log.info({ pid: running.pid, port: running.port }, 'using the running embedded PostgreSQL');
    return { url: running.url, directory: join(resolve(dataDir), 'postgres'), stop: async () => {} };
  }
  if (running) {
    // Two servers on one data folder: PostgreSQL would refuse it, and the port would get the blame.
    throw new StartError(
      `The embedded PostgreSQL of ${dataDir} is already running (pid ${running.pid}, port ${running.port}): another \`tianqi start\` uses this data-dir. Stop it, or give this server its own data-dir (TIANQI_DATA_DIR) or a shared database (DATABASE_URL).`,
    );
  }
  return startEmbeddedPostgres(dataDir, config.database['embedded-port'], log);
}
