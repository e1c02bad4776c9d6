import type { ErrorCode } from '@tianqi/api/client';
import { TRPCClientError } from '@trpc/client';
import { $t } from '../locales/index.js';

export interface ApiErrorInfo {
  code: ErrorCode | 'network';
  /** The server's own words (English): the field or rule a refusal names. */
  detail: string;
  details: Record<string, unknown> | undefined;
  requestId: string | null;
}

const CODES: readonly string[] = [
  'validation',
  'not_found',
  'forbidden',
  'unauthorized',
  'conflict',
  'no_capacity',
  'node_unavailable',
  'database_unavailable',
  'rate_limited',
  'internal',
];

/** What went wrong, in the platform's vocabulary, from whatever a call threw. */
export function errorInfo(err: unknown): ApiErrorInfo {
  if (err instanceof TRPCClientError) {
    const data = err.data as { tianqiCode?: string; details?: Record<string, unknown> } | undefined;
    const requestId = /\(request ([^)]+)\)/.exec(err.message)?.[1] ?? null;
    if (data?.tianqiCode && CODES.includes(data.tianqiCode)) {
      return { code: data.tianqiCode as ErrorCode, detail: err.message, details: data.details, requestId };
    }
    // No answer from the server at all (fetch failed, a proxy's HTML page).
    return { code: 'network', detail: err.message, details: undefined, requestId };
  }
  return {
    code: 'internal',
    detail: String((err as Error)?.message ?? err),
    details: undefined,
    requestId: null,
  };
}

/** The one place an error becomes a sentence in the user's language. */
export function describeError(err: unknown): string {
  const info = errorInfo(err);
  const seconds = Number(info.details?.retryAfterSeconds ?? 0) || 1;
  return $t(`errors.${info.code}`, { detail: info.detail, seconds, requestId: info.requestId ?? '—' });
}
