import pg from 'pg';

export interface PoolOptions {
  max?: number;
  /** Called when an idle connection dies (e.g. PostgreSQL restarted); the pool replaces it. */
  onError?: (err: Error) => void;
}

/** A connection pool that survives a PostgreSQL restart: dead idle clients are dropped, not fatal. */
export function createPool(connectionString: string, options: PoolOptions = {}): pg.Pool {
  const pool = new pg.Pool({
    connectionString,
    max: options.max ?? 20,
    idleTimeoutMillis: 30_000,
    connectionTimeoutMillis: 10_000,
  });
  pool.on('error', (err) => options.onError?.(err));
  return pool;
}
