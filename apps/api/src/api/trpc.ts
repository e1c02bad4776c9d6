import { randomUUID } from 'node:crypto';
import { TianqiError } from '@tianqi/domain';
import { type GlobalPosition, isDatabaseUnavailable } from '@tianqi/events';
import { initTRPC, TRPCError } from '@trpc/server';
import type { CreateFastifyContextOptions } from '@trpc/server/adapters/fastify';
import type { FastifyReply } from 'fastify';
import type { Logger } from 'pino';
import { databaseUnavailable } from '../access/errors.js';
import {
  APP_HEADER,
  authenticate,
  clientIp,
  type RequestOrigin,
  requestOrigin,
} from '../access/request-auth.js';
import type { Services } from '../access/services.js';
import type { SessionUser } from '../auth/sessions.js';
import type { CommandContext } from '../commands/index.js';
import { tianqiCodeOf, toTrpcError } from './errors.js';

export interface ApiContext {
  services: Services;
  session: SessionUser | null;
  viaCookie: boolean;
  /** The request's Origin: the server's own (or a public origin), another, or none given. */
  origin: RequestOrigin;
  /** It carries the web app's header (`X-Tianqi-Client`): it came from our page or a program. */
  fromApp: boolean;
  ip: string | null;
  userAgent: string | null;
  requestId: string;
  /** A client's key for a mutation (`Idempotency-Key`): sending it again never does the thing twice. */
  idempotencyKey: string | null;
  log: Logger;
  reply: FastifyReply | null;
}

export function contextFactory(services: Services) {
  return async ({ req, res }: CreateFastifyContextOptions): Promise<ApiContext> => {
    const requestId = String(req.id ?? randomUUID());
    const { session, viaCookie } = await authenticate(req.headers, services.sessions).catch(
      (err: unknown) => {
        // No context yet for the error formatter: the request id travels with the error.
        if (!isDatabaseUnavailable(err)) throw err;
        const cause = databaseUnavailable({ requestId });
        throw new TRPCError({ code: 'SERVICE_UNAVAILABLE', message: cause.message, cause });
      },
    );
    const key = req.headers['idempotency-key'];
    return {
      services,
      session,
      viaCookie,
      origin: requestOrigin(req.headers, services.config.server['public-origins']),
      fromApp: typeof req.headers[APP_HEADER] === 'string',
      ip: clientIp(req.ip),
      userAgent: req.headers['user-agent'] ?? null,
      requestId,
      idempotencyKey: typeof key === 'string' && /^[\w.:-]{8,100}$/.test(key) ? key : null,
      log: req.log as unknown as Logger,
      reply: res,
    };
  };
}

const t = initTRPC.context<ApiContext>().create({
  // Subscriptions over server-sent events, with pings so proxies keep them open.
  sse: { ping: { enabled: true, intervalMs: 15_000 }, client: { reconnectAfterInactivityMs: 40_000 } },
  errorFormatter({ shape, error, ctx }) {
    const internal = error.code === 'INTERNAL_SERVER_ERROR';
    const cause = error.cause as { details?: Record<string, unknown> } | undefined;
    const tianqiCode = tianqiCodeOf(error);
    const requestId = ctx?.requestId ?? cause?.details?.requestId ?? 'unknown';
    return {
      message: internal
        ? `internal error (request ${requestId})`
        : tianqiCode === 'database_unavailable'
          ? `${shape.message} (request ${requestId})`
          : shape.message,
      code: shape.code,
      data: {
        code: shape.data.code,
        httpStatus: shape.data.httpStatus,
        path: shape.data.path,
        /** The platform's own code (validation, not_found, no_capacity, …): what clients branch on. */
        tianqiCode,
        details: internal ? undefined : cause?.details,
      },
    };
  },
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;

/** Every error leaves as the platform's vocabulary, with a readable message for bad input. */
const withErrors = t.middleware(async ({ next, ctx }) => {
  const result = await next();
  if (!result.ok) {
    const mapped = toTrpcError(result.error);
    if (mapped.code === 'INTERNAL_SERVER_ERROR')
      ctx.log.error({ err: result.error.cause ?? result.error }, 'request failed');
    throw mapped;
  }
  return result;
});

/**
 * PostgreSQL cannot store a NUL character in text or JSON: refused here, for every procedure, as bad
 * input with its path, instead of failing deep inside a write.
 */
const noNul = t.middleware(async ({ getRawInput, next }) => {
  const path = nulPath(await getRawInput(), 'input', 0);
  if (path) throw new TianqiError('validation', `${path}: text may not contain NUL characters`);
  return next();
});

function nulPath(value: unknown, path: string, depth: number): string | null {
  if (typeof value === 'string') return value.includes('\u0000') ? path : null;
  if (depth > 32 || value === null || typeof value !== 'object') return null;
  for (const [k, v] of Object.entries(value)) {
    if (k.includes('\u0000')) return path;
    const found = nulPath(v, `${path}.${k}`, depth + 1);
    if (found) return found;
  }
  return null;
}

export const publicProcedure = t.procedure.use(withErrors).use(noNul);

export interface SignedIn {
  userId: string;
  username: string;
  role: 'admin' | 'user';
  sessionId: string;
}

/**
 * No cross-site requests (OWASP's CSRF rules): a browser's cookie counts only from an allowed Origin;
 * and a cookie-signed change (a mutation) with no Origin at all must carry the app's header, which a
 * page on another site cannot send.
 */
export function refuseCrossSite(ctx: ApiContext, type: string): void {
  if (ctx.origin === 'foreign') {
    throw new TRPCError({ code: 'FORBIDDEN', message: 'cross-site request refused' });
  }
  if (type === 'mutation' && ctx.origin === 'unknown' && !ctx.fromApp) {
    throw new TRPCError({
      code: 'FORBIDDEN',
      message: `cross-site request refused: a browser's change needs its Origin or the ${APP_HEADER} header`,
    });
  }
}

/** Signed in: a session, and for a browser's cookie a request from our own pages (refuseCrossSite). */
export const userProcedure = publicProcedure.use(({ ctx, next, type }) => {
  if (!ctx.session) throw new TRPCError({ code: 'UNAUTHORIZED', message: 'sign in first' });
  if (ctx.viaCookie) refuseCrossSite(ctx, type);
  const { userId, username, role, sessionId } = ctx.session;
  const user: SignedIn = { userId, username, role, sessionId };
  const command: CommandContext = {
    actor: { kind: 'user', userId, role },
    ip: ctx.ip,
    commandId: ctx.idempotencyKey ?? undefined,
    correlationId: ctx.requestId,
  };
  return next({ ctx: { user, command } });
});

export const adminProcedure = userProcedure.use(({ ctx, next }) => {
  if (ctx.user.role !== 'admin') throw new TRPCError({ code: 'FORBIDDEN', message: 'admins only' });
  return next();
});

/**
 * Read-your-writes: a mutation answers once the read models include what it wrote, so the list the
 * client loads next shows it; `only` the read models its answer is read from, when it names them.
 * Bounded: a stalled projection never holds a request for long.
 */
export async function settled(
  services: Services,
  position: GlobalPosition | null,
  options: { only?: readonly string[]; timeoutMs?: number } = {},
): Promise<void> {
  if (!position) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([
    services.projections.waitFor(position, options.only),
    new Promise<void>((resolve) => {
      timer = setTimeout(resolve, options.timeoutMs ?? 5_000);
    }),
  ]).finally(() => clearTimeout(timer));
}

/** A command's result, answered once the read models (`only` these) include it (see settled). */
export async function applied<T extends { position: GlobalPosition | null }>(
  services: Services,
  result: Promise<T>,
  only?: readonly string[],
): Promise<T> {
  const done = await result;
  await settled(services, done.position, { only });
  return done;
}
