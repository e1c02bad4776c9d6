import { ConcurrencyError } from './errors.js';

export interface RetryOptions {
  /** Tries in all, the first included. */
  attempts?: number;
  /** The backoff doubles from this, capped at maxDelayMs; each wait is a random part of it. */
  baseDelayMs?: number;
  maxDelayMs?: number;
}

/**
 * Runs `fn` again after a ConcurrencyError, waiting a random time under an exponentially growing cap
 * ("full jitter"), as a command handler does when it must re-read a stream and decide again. Writers
 * that lost a race retrying all at once would only queue on the stream and lose again.
 * Other errors, and the last conflict, are thrown.
 */
export async function retryOnConflict<T>(
  fn: (attempt: number) => Promise<T>,
  options: RetryOptions = {},
): Promise<T> {
  const attempts = options.attempts ?? 10;
  const base = options.baseDelayMs ?? 2;
  const cap = options.maxDelayMs ?? 100;
  for (let attempt = 1; ; attempt++) {
    try {
      return await fn(attempt);
    } catch (err) {
      if (!(err instanceof ConcurrencyError) || attempt >= attempts) throw err;
      await new Promise((resolve) => setTimeout(resolve, Math.random() * Math.min(cap, base * 2 ** attempt)));
    }
  }
}
