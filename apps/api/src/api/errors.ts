import { type ErrorCode, TianqiError } from '@tianqi/domain';
import { ConcurrencyError, isDatabaseUnavailable } from '@tianqi/events';
import { TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import { databaseUnavailable, describeZodError } from '../access/errors.js';

type TrpcCode = ConstructorParameters<typeof TRPCError>[0]['code'];

/** The platform's error vocabulary on the wire: one tRPC (and HTTP) code per domain code. */
export const TRPC_CODES: Record<ErrorCode, TrpcCode> = {
  validation: 'BAD_REQUEST',
  not_found: 'NOT_FOUND',
  forbidden: 'FORBIDDEN',
  unauthorized: 'UNAUTHORIZED',
  conflict: 'CONFLICT',
  no_capacity: 'PRECONDITION_FAILED',
  node_unavailable: 'SERVICE_UNAVAILABLE',
  database_unavailable: 'SERVICE_UNAVAILABLE',
  rate_limited: 'TOO_MANY_REQUESTS',
  internal: 'INTERNAL_SERVER_ERROR',
};

const FROM_TRPC: Partial<Record<TrpcCode, ErrorCode>> = {
  BAD_REQUEST: 'validation',
  PARSE_ERROR: 'validation',
  NOT_FOUND: 'not_found',
  FORBIDDEN: 'forbidden',
  UNAUTHORIZED: 'unauthorized',
  CONFLICT: 'conflict',
  PRECONDITION_FAILED: 'no_capacity',
  SERVICE_UNAVAILABLE: 'node_unavailable',
  TOO_MANY_REQUESTS: 'rate_limited',
};

/** A thrown error as the tRPC error the client gets; the domain code travels in `data.tianqiCode`. */
export function toTrpcError(err: unknown): TRPCError {
  if (err instanceof TRPCError) {
    if (err.cause instanceof TianqiError || err.cause instanceof ZodError) return toTrpcError(err.cause);
    if (err.code === 'INTERNAL_SERVER_ERROR' && isDatabaseUnavailable(err.cause))
      return toTrpcError(err.cause);
    return err;
  }
  if (err instanceof ConcurrencyError) {
    return new TRPCError({
      code: 'CONFLICT',
      message: 'changed by someone else meanwhile; try again',
      cause: err,
    });
  }
  if (err instanceof TianqiError)
    return new TRPCError({ code: TRPC_CODES[err.code], message: err.message, cause: err });
  if (err instanceof ZodError) {
    return new TRPCError({ code: 'BAD_REQUEST', message: describeZodError(err), cause: err });
  }
  if (isDatabaseUnavailable(err)) {
    const cause = databaseUnavailable();
    return new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: cause.message, cause });
  }
  return new TRPCError({ code: 'INTERNAL_SERVER_ERROR', message: 'internal error', cause: err });
}

export function tianqiCodeOf(err: TRPCError): ErrorCode {
  if (err.cause instanceof TianqiError) return err.cause.code;
  return FROM_TRPC[err.code] ?? 'internal';
}
