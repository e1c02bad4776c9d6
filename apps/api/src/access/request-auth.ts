import type { IncomingHttpHeaders } from 'node:http';
import type { SessionStore, SessionUser } from '../auth/sessions.js';

export const SESSION_COOKIE = 'tianqi_session';

export interface RequestAuth {
  session: SessionUser | null;
  /** The token came in a cookie (a browser): such requests must come from an allowed origin. */
  viaCookie: boolean;
}

function cookieValue(header: string | undefined, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq > 0 && part.slice(0, eq).trim() === name) {
      try {
        return decodeURIComponent(part.slice(eq + 1).trim());
      } catch {
        return null; // a mangled cookie is no session, not a server error
      }
    }
  }
  return null;
}

/** The session behind a request: `Authorization: Bearer tq_…` (CLI) or the session cookie (browser). */
export async function authenticate(
  headers: IncomingHttpHeaders,
  sessions: SessionStore,
): Promise<RequestAuth> {
  const bearer = /^Bearer\s+(\S+)$/i.exec(headers.authorization ?? '')?.[1];
  if (bearer) return { session: await sessions.resolve(bearer), viaCookie: false };
  const cookie = cookieValue(headers.cookie, SESSION_COOKIE);
  if (cookie) return { session: await sessions.resolve(cookie), viaCookie: true };
  return { session: null, viaCookie: false };
}

/**
 * The header the web app sends with every call. A page on another site cannot send it without a CORS
 * preflight, which this server never answers: a request that carries it came from a page of ours (or
 * from a program, which is no cross-site risk).
 */
export const APP_HEADER = 'x-tianqi-client';

/** Where a browser request came from, as far as it can be told. */
export type RequestOrigin = 'allowed' | 'foreign' | 'unknown';

/**
 * Whether a request's Origin may use a cookie session: the server's own host or one of
 * `server.public-origins` (allowed), another (foreign), or no Origin at all (unknown: a same-origin
 * GET, a program — or a cross-site form whose browser left Origin out, which only the app header or
 * an Origin can rule out).
 */
export function requestOrigin(headers: IncomingHttpHeaders, publicOrigins: string): RequestOrigin {
  if (headers.origin === undefined) return 'unknown';
  return originAllowed(headers, publicOrigins) ? 'allowed' : 'foreign';
}

/** Whether a request's Origin, when it has one, is the server's own or one of `server.public-origins`. */
export function originAllowed(headers: IncomingHttpHeaders, publicOrigins: string): boolean {
  const origin = headers.origin;
  if (origin === undefined) return true;
  const allowed = publicOrigins
    .split(',')
    .map((o) => o.trim().replace(/\/+$/, ''))
    .filter(Boolean);
  if (allowed.includes(origin)) return true;
  try {
    return new URL(origin).host === headers.host;
  } catch {
    return false;
  }
}

export function clientIp(ip: string | undefined): string | null {
  if (!ip) return null;
  return ip.startsWith('::ffff:') ? ip.slice('::ffff:'.length) : ip;
}
