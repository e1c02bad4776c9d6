import { randomUUID } from 'node:crypto';
import { createTRPCClient, httpLink, httpSubscriptionLink, splitLink, type TRPCClient } from '@trpc/client';
import { EventSource } from 'eventsource';
import type { AppRouter } from '../../src/client.js';

export type ApiClient = TRPCClient<AppRouter>;

/**
 * The server's tests and benches talk to it as the CLI does (apps/cli/src/api-client.ts: the CLI
 * stands on the server's type, so the server cannot stand on the CLI's code): HTTP for queries and
 * mutations, each mutation with its own Idempotency-Key, server-sent events for subscriptions.
 */
export function createApiClient(baseUrl: string, token: string | null = null): ApiClient {
  const url = `${baseUrl.replace(/\/+$/, '')}/api/trpc`;
  const auth: Record<string, string> = token ? { authorization: `Bearer ${token}` } : {};
  const withAuth = (input: string | URL | Request, init?: RequestInit) =>
    fetch(input, { ...init, headers: { ...init?.headers, ...auth } });
  return createTRPCClient<AppRouter>({
    links: [
      splitLink({
        condition: (op) => op.type === 'subscription',
        true: httpSubscriptionLink({ url, EventSource, eventSourceOptions: () => ({ fetch: withAuth }) }),
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
