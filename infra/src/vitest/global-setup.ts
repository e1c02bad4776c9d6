import { startThrowawayPostgres, type ThrowawayPostgres } from '../postgres.js';

/**
 * Vitest global setup shared by every package: a private PostgreSQL for this test run (or the server
 * in TIANQI_TEST_DATABASE_URL when one is given), stopped when the run ends.
 */
let server: ThrowawayPostgres | undefined;

export async function setup(): Promise<void> {
  if (process.env.TIANQI_TEST_DATABASE_URL) return;
  server = await startThrowawayPostgres();
  process.env.TIANQI_TEST_DATABASE_URL = server.url;
}

export async function teardown(): Promise<void> {
  await server?.stop();
}
