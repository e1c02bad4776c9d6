import type { AppRouter } from '@tianqi/api/client';
import {
  createTRPCClient,
  httpBatchLink,
  httpSubscriptionLink,
  splitLink,
  type TRPCLink,
} from '@trpc/client';
import { observable } from '@trpc/server/observable';

type Listener = () => void;
const onUnauthorized = new Set<Listener>();
const onUnreachable = new Set<Listener>();

/** Calls `listener` when a call finds the session gone (so the app can send the user to sign in). */
export function whenUnauthorized(listener: Listener): () => void {
  onUnauthorized.add(listener);
  return () => onUnauthorized.delete(listener);
}

/** Calls `listener` when a call gets no answer from the server at all. */
export function whenUnreachable(listener: Listener): () => void {
  onUnreachable.add(listener);
  return () => onUnreachable.delete(listener);
}

/** Notes, for every call, the two failures the whole app reacts to; the caller still gets its error. */
const watchFailures: TRPCLink<AppRouter> =
  () =>
  ({ next, op }) =>
    observable((observer) =>
      next(op).subscribe({
        next: (value) => observer.next(value),
        complete: () => observer.complete(),
        error: (err) => {
          const code = (err.data as { tianqiCode?: string } | undefined)?.tianqiCode;
          if (code === 'unauthorized' && op.path !== 'auth.login') for (const l of onUnauthorized) l();
          if (!code && !err.data) for (const l of onUnreachable) l();
          observer.error(err);
        },
      }),
    );

/**
 * The one API client: batched HTTP for queries and mutations, server-sent events for subscriptions
 * (which resume with the last event id after a reconnect). The browser signs in with the session
 * cookie; no token lives in JavaScript. Every call carries the app's header, which the server asks of
 * cookie-signed changes (another site's page cannot send it).
 */
export const api = createTRPCClient<AppRouter>({
  links: [
    watchFailures,
    splitLink({
      condition: (op) => op.type === 'subscription',
      true: httpSubscriptionLink({ url: '/api/trpc' }),
      false: httpBatchLink({
        url: '/api/trpc',
        maxItems: 10,
        headers: () => ({ 'x-tianqi-client': 'web' }),
        fetch: (input, init) => fetch(input, { ...init, credentials: 'same-origin' }),
      }),
    }),
  ],
});
