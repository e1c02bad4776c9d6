import { TianqiError } from '@tianqi/domain';

/**
 * Errors that mean the database is away (restarting, its sessions terminated, refusing connections),
 * not that a statement was wrong: the API answers them with `database_unavailable` (503), and the
 * projection runner never counts them against a read model.
 */

// SQLSTATEs: admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections; class 08 below.
const UNAVAILABLE_SQLSTATES = new Set(['57P01', '57P02', '57P03', '53300']);
// Node's socket errors on the way to the server.
const UNAVAILABLE_SYSCALLS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
]);
// What pg and pg-pool say when a connection is lost or cannot be had in time.
const UNAVAILABLE_MESSAGES =
  /^(Connection terminated|timeout exceeded when trying to connect|Client has encountered a connection error|Client was closed and is not queryable|Connection terminated due to connection timeout|Query read timeout)/;

function isUnavailableItself(err: unknown): boolean {
  if (!err || typeof err !== 'object') return false;
  const { code, message } = err as { code?: unknown; message?: unknown };
  if (typeof code === 'string') {
    // Class 08 is about the connection, but 08P01 (protocol violation) is a client's bug, not an outage.
    const connection = /^08[0-9A-Z]{3}$/.test(code) && code !== '08P01';
    if (UNAVAILABLE_SQLSTATES.has(code) || connection || UNAVAILABLE_SYSCALLS.has(code)) {
      return true;
    }
  }
  return typeof message === 'string' && UNAVAILABLE_MESSAGES.test(message);
}

/** True when `err`, or an error it wraps (`cause`, an AggregateError's `errors`), says the database is away. */
export function isDatabaseUnavailable(err: unknown, depth = 0): boolean {
  if (depth > 8 || !err || typeof err !== 'object') return false;
  // Already in the platform's vocabulary: its code decides (a node's refused connection is not ours).
  if (err instanceof TianqiError) return err.code === 'database_unavailable';
  if (isUnavailableItself(err)) return true;
  const { cause, errors } = err as { cause?: unknown; errors?: unknown };
  if (isDatabaseUnavailable(cause, depth + 1)) return true;
  return Array.isArray(errors) && errors.some((e) => isDatabaseUnavailable(e, depth + 1));
}

/** An error PostgreSQL answered to one statement (the connection stays usable), not a lost connection. */
export function isServerError(err: unknown): boolean {
  const e = err as { code?: unknown; severity?: unknown };
  return typeof e.code === 'string' && /^[0-9A-Z]{5}$/.test(e.code) && e.severity === 'ERROR';
}
