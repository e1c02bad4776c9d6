import { describeConnectionError } from '../docker/connection-check.js';
import { RetryLater } from './reconcile-instance.js';

/** What the owner reads when a pass fails: which node, and the error in plain words (cut to fit). */
export function failureReason(err: unknown, nodeName: string): string {
  if (err instanceof RetryLater) return err.message.slice(0, 2000);
  const e = err as { json?: { message?: string }; statusCode?: number };
  // Docker's own words, not dockerode's "(HTTP code 500) server error - …" around them.
  const detail =
    e.statusCode && e.json?.message
      ? `Docker answered ${e.statusCode}: ${e.json.message}`
      : describeConnectionError(err);
  return `node ${nodeName}: ${detail}`.slice(0, 2000);
}
