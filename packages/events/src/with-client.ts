import type pg from 'pg';
import { isServerError } from './database-errors.js';

/**
 * A client just checked out of the pool, watched for the rest of its checkout. pg-pool listens for a
 * client's 'error' only while it sits idle in the pool: a checked-out client whose connection dies
 * between two statements (PostgreSQL restarted, its session terminated) emits 'error' with no
 * listener, and Node ends the process. Here a listener covers the checkout, and `release()` discards
 * the client, rather than returning it to the pool, when its connection broke meanwhile.
 */
export function guarded(client: pg.PoolClient): pg.PoolClient {
  let broken: Error | undefined;
  const onError = (err: Error) => {
    broken ??= err;
  };
  client.on('error', onError);
  // pg-pool gives each checkout a release function of its own: this one lasts as long as it does.
  const release = client.release;
  client.release = (err?: Error | boolean) => {
    const reason = broken ?? err;
    // A discarded client keeps the listener: its socket may still report the connection's end.
    if (!reason) client.removeListener('error', onError);
    release(reason);
  };
  return client;
}

/**
 * Runs `fn` on a guarded client (see guarded) and gives it back: kept after a statement the server
 * refused (the connection is fine), discarded after anything else that went wrong.
 */
export async function withClient<T>(pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  const client = guarded(await pool.connect());
  let result: T;
  try {
    result = await fn(client);
  } catch (err) {
    client.release(isServerError(err) ? undefined : (err as Error));
    throw err;
  }
  client.release();
  return result;
}
