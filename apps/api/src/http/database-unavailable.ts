import { isDatabaseUnavailable } from '@tianqi/events';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { databaseUnavailable } from '../access/errors.js';

/**
 * A plain route's answer when PostgreSQL is away: 503 `database_unavailable` naming the request id,
 * as the tRPC API answers. A route's error handler: anything else goes on to the server's.
 */
export function replyDatabaseUnavailable(err: Error, req: FastifyRequest, reply: FastifyReply) {
  if (!isDatabaseUnavailable(err)) throw err;
  const { message } = databaseUnavailable();
  return reply
    .code(503)
    .send({ error: 'database_unavailable', message: `${message} (request ${req.id})`, requestId: req.id });
}
