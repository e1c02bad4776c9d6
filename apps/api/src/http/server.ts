import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import websocket from '@fastify/websocket';
import { isDatabaseUnavailable } from '@tianqi/events';
import { type FastifyTRPCPluginOptions, fastifyTRPCPlugin } from '@trpc/server/adapters/fastify';
import Fastify, {
  type FastifyBaseLogger,
  type FastifyInstance,
  type FastifyReply,
  type FastifyRequest,
} from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Services } from '../access/services.js';
import { type AppRouter, appRouter } from '../api/router.js';
import { contextFactory } from '../api/trpc.js';
import { registerTerminal } from '../web-terminal/terminal-socket.js';
import { registerAuditExport } from './audit-export.js';
import { registerHotReads } from './hot-reads.js';

/** The built web app, served from the same origin when it has been built. */
export const WEB_DIST = fileURLToPath(new URL('../../../web/dist/', import.meta.url));

/**
 * The HTTP server: health and readiness, Prometheus metrics, the tRPC API under /api/trpc (with
 * server-sent events for subscriptions), the terminal WebSocket, the audit export, and the web app.
 * `services` is null while the platform starts: only health answers then.
 */
export function createHttpServer(deps: {
  pool: pg.Pool;
  logger: Logger;
  requestTimeoutSeconds: number;
  /** Balancers whose X-Forwarded-For names the client (addresses or CIDRs); none: the socket's peer. */
  trustedProxies?: readonly string[];
}): FastifyInstance {
  const requestTimeout = deps.requestTimeoutSeconds * 1000;
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    // The whole request (headers and body) within the bound, checked every second: no connection is
    // held by a body sent a byte at a time. Headers get the same bound or 20 s, the shorter.
    serverFactory: (handler) =>
      createServer(
        {
          requestTimeout,
          headersTimeout: Math.min(requestTimeout, 20_000),
          connectionsCheckingInterval: 1_000,
        },
        handler,
      ),
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w-]{1,64}$/.test(given) ? given : randomUUID();
    },
    // tRPC batches put procedure names in the path.
    routerOptions: { maxParamLength: 5_000 },
    bodyLimit: BODY_LIMIT,
    trustProxy: deps.trustedProxies?.length ? [...deps.trustedProxies] : false,
  });
  app.addHook('onSend', async (req, reply) => {
    reply.header('x-request-id', req.id);
  });
  app.addHook('onRequest', refuseBodiesNotTaken);

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

/** The largest body any route takes (JSON; the API has no uploads). */
export const BODY_LIMIT = 1024 * 1024;

/**
 * Bodies are refused before a byte of them is read when the API could not use them: any type but JSON
 * (415: a multipart form would otherwise be read whole into memory to fail later), or a declared
 * length past the limit (413). A chunked JSON body is cut at the limit as it arrives (the parser's
 * bodyLimit). The connection is closed after the answer, so the rest is never read.
 */
async function refuseBodiesNotTaken(req: FastifyRequest, reply: FastifyReply) {
  const length = Number(req.headers['content-length'] ?? 0);
  const hasBody = length > 0 || req.headers['transfer-encoding'] !== undefined;
  if (!hasBody) return;
  const type = (req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
  if (type !== 'application/json') {
    return reply.code(415).header('connection', 'close').send({
      error: 'unsupported_media_type',
      message: 'this server takes request bodies as application/json only',
    });
  }
  if (length > BODY_LIMIT) {
    return reply
      .code(413)
      .header('connection', 'close')
      .send({ error: 'payload_too_large', message: `a request body is at most ${BODY_LIMIT} bytes` });
  }
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
  registerHotReads(app, services);
  await app.register(fastifyTRPCPlugin, {
    prefix: '/api/trpc',
    trpcOptions: {
      router: appRouter,
      // A batch is one request that runs many calls: a small cap keeps it from being a way around
      // per-request limits (sign-in attempts above all).
      maxBatchSize: 10,
      // Whatever reaches tRPC unparsed is still read at most this far.
      maxBodySize: BODY_LIMIT,
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
