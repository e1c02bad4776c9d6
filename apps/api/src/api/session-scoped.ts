import { TRPCError } from '@trpc/server';
import type { Services } from '../access/services.js';
import { sessionScope } from '../auth/session-scope.js';
import type { SessionUser } from '../auth/sessions.js';

/**
 * Runs a subscription's stream until the client goes, the server shuts down, or the session ends
 * (sign-out, expiry, disable, a role or password change, on any server): then it ends.
 */
export async function* scoped<T>(
  ctx: { services: Services; session: SessionUser | null },
  signal: AbortSignal | undefined,
  stream: (until: AbortSignal) => AsyncIterable<T>,
): AsyncGenerator<T> {
  const session = sessionScope(ctx.services.sessions, ctx.session!);
  const until = AbortSignal.any([
    signal ?? new AbortController().signal,
    ctx.services.feed.closing,
    session.signal,
  ]);
  try {
    if (!until.aborted) yield* stream(until);
  } finally {
    session.release();
  }
  // Told apart from a stream that is simply over: the client must sign in again, not wait for more.
  if (session.signal.aborted)
    throw new TRPCError({ code: 'UNAUTHORIZED', message: 'the session ended; sign in again' });
}
