import { randomUUID } from 'node:crypto';
import type { AppRouter } from '@tianqi/api/client';
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, type TRPCClient } from '@trpc/client';
import { EventSource } from 'eventsource';

export type ApiClient = TRPCClient<AppRouter>;

/**
 * A typed client of a Tianqi server for Node (the CLI, tests, benchmarks): plain HTTP for queries and
 * mutations (each mutation with its own Idempotency-Key), server-sent events for subscriptions, the
 * session token as a bearer header on both.
 */
export function createApiClient(baseUrl: string, token: string | null = null): ApiClient {
  const url = `${baseUrl.replace(/\/+$/, '')}/api/trpc`;
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({
          url,
          EventSource,
          eventSourceOptions: () => ({
            fetch: (input, init) => fetch(input, { ...init, headers: { ...init?.headers, ...auth } }),
          }),
        }),
        false: httpLink({
          url,
          headers: (opts) => ({
            ...auth,
            ...(opts.op.type === 'mutation' ? { 'idempotency-key': randomUUID() } : {}),
          }),
        }),
      }),
    ],
  });
}
