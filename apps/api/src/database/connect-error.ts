import { StartError } from '../start-error.js';

/** The URL as it may be shown: its password replaced by `***`. */
export function maskedUrl(url: string): string {
  return url.replace(/(\/\/[^:/@]*:)[^@/]*@/, '$1***@').replace(/([?&]password=)[^&]*/gi, '$1***');
}

/**
 * Why the database refused us, in words an operator acts on (no password, wrong password, unknown
 * user or database, unreachable host), naming the URL without its password; null for an error that
 * is not about reaching the database.
 */
export function describeConnectError(err: unknown, url: string): StartError | null {
  const e = err as { code?: string; message?: string };
  const message = e.message ?? String(err);
  const where = maskedUrl(url);
  const hint = 'Fix database.url (or DATABASE_URL), or leave it empty for the embedded PostgreSQL.';
  let what: string | null = null;
  if (/client password must be a string|password must be a string/i.test(message)) {
    what = 'asks for a password, and the URL has none (postgres://USER:PASSWORD@HOST/DATABASE)';
  } else if (e.code === '28P01') {
    what = 'refused the password in the URL (password authentication failed)';
  } else if (e.code === '28000') {
    what = `refused the connection: ${message}`;
  } else if (e.code === '3D000') {
    what = `has no such database (${message}); create it (createdb) or name another`;
  } else if (e.code === 'ECONNREFUSED') {
    what = 'refused the connection: nothing listens at that host and port';
  } else if (e.code === 'ENOTFOUND' || e.code === 'EAI_AGAIN') {
    what = 'names a host that cannot be found';
  } else if (
    e.code === 'ETIMEDOUT' ||
    e.code === 'EHOSTUNREACH' ||
    // pg's own connection timeouts (not a statement or lock timeout while migrating)
    /timeout exceeded when trying to connect|connection timeout/i.test(message)
  ) {
    what = 'cannot be reached (no answer in time)';
  } else if (e.code === 'ERR_INVALID_URL' || /Invalid URL/i.test(message)) {
    what = 'is not a valid URL';
  }
  if (!what) return null;
  return new StartError(`The database at ${where} ${what}. ${hint}`, { cause: err });
}
