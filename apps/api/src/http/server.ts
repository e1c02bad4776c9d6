import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import websocket from '@fastify/websocket';
import { isDatabaseUnavailable } from '@tianqi/events';
import { type FastifyTRPCPluginOptions, fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';
import { type AppRouter, appRouter } from '../api/router.js';
import type { Services } from '../api/services.js';
import { contextFactory } from '../api/trpc.js';
import { registerTerminal } from '../terminal/terminal-socket.js';
import { registerAuditExport } from './audit-export.js';

/** The built web app, served from the same origin when it has been built. */
export const WEB_DIST = fileURLToPath(new URL('../../../web/dist/', import.meta.url));

/**
 * The HTTP server: health and readiness, Prometheus metrics, the tRPC API under /api/trpc (with
 * server-sent events for subscriptions), the terminal WebSocket, the audit export, and the web app.
 * `services` is null while the platform starts: only health answers then.
 */
export function createHttpServer(deps: { pool: pg.Pool; logger: Logger }): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w-]{1,64}$/.test(given) ? given : randomUUID();
    },
    // tRPC batches put procedure names in the path.
    routerOptions: { maxParamLength: 5_000 },
    bodyLimit: 1024 * 1024,
    trustProxy: false,
  });
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });

  // Alive: the process answers.
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Ready: the database answers too.
  app.get('/readyz', async (req, reply) => {
    try {
      await deps.pool.query('SELECT 1');
      return { status: 'ready' };
    } catch (err) {
      return reply.code(503).send({
        status: 'unavailable',
        error: isDatabaseUnavailable(err) ? 'database_unavailable' : 'internal',
        reason: `${(err as Error).message} (request ${req.id})`,
      });
    }
  });

  return app;
}

/** Adds the API, terminals, metrics and the web app once the platform's parts are running. */
export async function mountApi(app: FastifyInstance, services: Services): Promise<void> {
  const { metrics } = services;
  app.addHook('onResponse', async (req, reply) => {
    metrics.httpRequests.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unknown', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  app.get('/metrics', async (req, reply) => {
    const token = services.config.metrics.token;
    if (token !== '' && req.headers.authorization !== `Bearer ${token}`) {
      return reply.code(401).send({ error: 'unauthorized', message: 'metrics need the configured token' });
    }
    return reply.header('content-type', metrics.registry.contentType).send(await metrics.registry.metrics());
  });

  await app.register(websocket, { options: { maxPayload: 1024 * 1024 } });
  await app.register(fastifyTRPCPlugin, {
    prefix: '/api/trpc',
    trpcOptions: {
      router: appRouter,
      // A batch is one request that runs many calls: a small cap keeps it from being a way around
      // per-request limits (sign-in attempts above all).
      maxBatchSize: 10,
      createContext: contextFactory(services),
      onError: ({ error, path }) => {
        if (error.code === 'INTERNAL_SERVER_ERROR')
          services.logger.error({ err: error.cause ?? error, path }, 'API error');
      },
    },
  } satisfies FastifyTRPCPluginOptions<AppRouter>);
  registerTerminal(app, services);
  registerAuditExport(app, services);

  if (existsSync(WEB_DIST)) {
    const { default: serveStatic } = await import('@fastify/static');
    await app.register(serveStatic, { root: WEB_DIST, wildcard: false });
    // The web app routes in the browser: any other GET outside /api gets its index.
    app.setNotFoundHandler((req, reply) =>
      req.method === 'GET' && !req.url.startsWith('/api/')
        ? reply.sendFile('index.html')
        : reply.code(404).send({ error: 'not_found', message: `no route ${req.method} ${req.url}` }),
    );
  }
}
