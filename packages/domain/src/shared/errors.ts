/**
 * The platform's one error vocabulary. Every layer throws TianqiError with one of these codes and the
 * API maps each code to a tRPC code (validation → BAD_REQUEST, no_capacity → PRECONDITION_FAILED, …),
 * so callers branch on `code`, never on messages.
 */
export type ErrorCode =
  | 'validation'
  | 'not_found'
  | 'forbidden'
  | 'unauthorized'
  | 'conflict'
  | 'no_capacity'
  | 'node_unavailable'
  /** PostgreSQL is away (restarting, refusing connections): nothing was done; try again shortly. */
  | 'database_unavailable'
  /** Too many failed sign-ins: wait, then try again. */
  | 'rate_limited'
  | 'internal';

export class TianqiError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string,
    readonly details?: Record<string, unknown>,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
