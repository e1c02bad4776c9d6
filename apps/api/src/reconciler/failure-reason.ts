import { describeConnectionError } from '../docker/connection-check.js';
import { RetryLater } from './retry-later.js';

const CONNECTION_CODES = new Set([
  'ECONNREFUSED',
  'ETIMEDOUT',
  'ESOCKETTIMEDOUT',
  'ENOTFOUND',
  'EAI_AGAIN',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ECONNRESET',
  'EPIPE',
  'ENOENT',
]);

/**
 * What the owner reads when a pass fails: which node, and the error in plain words, cut to fit. It is
 * the owner's, so it names no address and no internal error: Docker's own answer about the container,
 * or what kind of trouble reaching the node is (the details are in the server log).
 */
export function failureReason(err: unknown, nodeName: string): string {
  if (err instanceof RetryLater) return err.message.slice(0, 2000);
  const e = err as { json?: { message?: string }; statusCode?: number; code?: string; message?: string };
  let detail: string;
  if (e.statusCode && e.json?.message) detail = `Docker answered ${e.statusCode}: ${e.json.message}`;
  else if (CONNECTION_CODES.has(e.code ?? '') || /CERT|SSL|TLS|certificate/i.test(`${e.code} ${e.message}`))
    detail = connectionTrouble(err);
  else detail = 'an error on the platform; it tries again';
  return `node ${nodeName}: ${detail}`.slice(0, 2000);
}

/** The kind of trouble reaching a node's Docker, without the address or the raw error after it. */
export function connectionTrouble(err: unknown): string {
  return describeConnectionError(err)
    .replace(/\s*\(.*\)$/s, '')
    .replace(/^(bad certificate):.*$/s, '$1');
}
