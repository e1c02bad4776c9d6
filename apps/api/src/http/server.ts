import { randomUUID } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type pg from 'pg';
import type { Logger } from 'pino';

/**
 * The HTTP server. For now it answers health and readiness; the tRPC API, the terminal WebSocket and
 * the web app join it in later work.
 */
export function createHttpServer(deps: { pool: pg.Pool; logger: Logger }): FastifyInstance {
  const app = Fastify({
    loggerInstance: deps.logger as FastifyBaseLogger,
    genReqId: (req) => {
      const given = req.headers['x-request-id'];
      return typeof given === 'string' && /^[\w-]{1,64}$/.test(given) ? given : randomUUID();
    },
  });

  // Alive: the process answers.
  app.get('/healthz', async () => ({ status: 'ok' }));

  // Ready: the database answers too.
  app.get('/readyz', async (_req, reply) => {
    try {
      await deps.pool.query('SELECT 1');
      return { status: 'ready' };
    } catch (err) {
      return reply.code(503).send({ status: 'unavailable', reason: (err as Error).message });
    }
  });

  return app;
}
