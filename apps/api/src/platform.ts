import pino, { type Logger } from 'pino';
import type { Config } from './config/schema.js';
import { type Database, openDatabase } from './database/connect.js';
import { createHttpServer } from './http/server.js';

export interface RunningPlatform {
  url: string;
  database: Database;
  logger: Logger;
  stop(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  return pino({ level: config.log.level, base: { service: 'tianqi' } });
}

/** Opens the database (embedded or configured), applies migrations and starts serving HTTP. */
export async function startPlatform(config: Config, logger = createLogger(config)): Promise<RunningPlatform> {
  const database = await openDatabase(config, logger);
  const app = createHttpServer({ pool: database.pool, logger });
  try {
    await app.listen({ host: config.server.host, port: config.server.port });
  } catch (err) {
    await database.close();
    throw err;
  }
  const host = config.server.host === '0.0.0.0' ? 'localhost' : config.server.host;
  let stopping: Promise<void> | undefined;
  return {
    url: `http://${host}:${config.server.port}`,
    database,
    logger,
    stop: () => {
      stopping ??= (async () => {
        await app.close();
        await database.close();
      })();
      return stopping;
    },
  };
}
