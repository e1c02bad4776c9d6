import { type ErrorCode, TianqiError } from '@tianqi/domain';
import type { ZodError } from 'zod';

/** The HTTP status of each domain code, for the plain routes (terminal upgrade, audit export). */
export const HTTP_STATUS: Record<ErrorCode, number> = {
  validation: 400,
  not_found: 404,
  forbidden: 403,
  unauthorized: 401,
  conflict: 409,
  no_capacity: 412,
  node_unavailable: 503,
  database_unavailable: 503,
  rate_limited: 429,
  internal: 500,
};

/** "name: a name is …; spec.gpuCount: …": what a person reads, from zod's issues. */
export function describeZodError(err: ZodError): string {
  return err.issues.map((i) => `${i.path.length > 0 ? `${i.path.join('.')}: ` : ''}${i.message}`).join('; ');
}

/** PostgreSQL is away: what the client is told (the request id is added where it is known). */
export function databaseUnavailable(details?: Record<string, unknown>): TianqiError {
  return new TianqiError('database_unavailable', 'the database is unavailable; try again shortly', details);
}
