import { idSchema, TianqiError } from '@tianqi/domain';
import type { InstanceRow } from '@tianqi/projections';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import { z } from 'zod';
import { HTTP_STATUS } from '../access/errors.js';
import { containerOf, dockerFailure, visibleInstance } from '../access/instance-access.js';
import { authenticate, clientIp, originAllowed } from '../access/request-auth.js';
import type { Services } from '../access/services.js';
import type { SessionUser } from '../auth/sessions.js';
import { recordSession } from '../terminal/record-session.js';
import { Recorder } from '../terminal/recording.js';
import { openShell } from '../terminal/shell.js';

const querySchema = z.object({
  cols: z.coerce.number().int().min(10).max(1000).default(80),
  rows: z.coerce.number().int().min(2).max(500).default(24),
});

/** Messages the browser sends as text frames; keystrokes come as binary frames. */
const controlSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('resize'),
    cols: z.number().int().min(10).max(1000),
    rows: z.number().int().min(2).max(500),
  }),
  z.object({ type: z.literal('ping') }),
]);

const KEEPALIVE_MS = 25_000;

declare module 'fastify' {
  interface FastifyRequest {
    terminal?: {
      user: SessionUser;
      row: InstanceRow;
      size: z.output<typeof querySchema>;
      via: 'web' | 'cli';
    };
  }
}

/**
 * The web terminal: `GET /api/instances/:instanceId/terminal?cols=&rows=` upgraded to a WebSocket.
 * Before the upgrade: a session (cookie or bearer), an allowed Origin, and the instance must be the
 * caller's (or the caller an admin). Then a shell with a TTY in the container: binary frames carry
 * bytes both ways, text frames carry `{"type":"resize","cols","rows"}`; the socket is pinged to keep
 * it open and to notice a vanished client; either side ending ends the other; the session is recorded.
 */
export function registerTerminal(app: FastifyInstance, services: Services): void {
  const refuse = (reply: FastifyReply, err: TianqiError) =>
    reply.code(HTTP_STATUS[err.code]).send({ error: err.code, message: err.message });

  app.get(
    '/api/instances/:instanceId/terminal',
    {
      websocket: true,
      preValidation: async (req: FastifyRequest, reply: FastifyReply) => {
        if (!originAllowed(req.headers, services.config.server['public-origins'])) {
          return refuse(reply, new TianqiError('forbidden', 'this origin may not open terminals'));
        }
        const { session, viaCookie } = await authenticate(req.headers, services.sessions);
        if (!session) return refuse(reply, new TianqiError('unauthorized', 'sign in first'));
        const id = idSchema.safeParse((req.params as { instanceId?: string }).instanceId);
        const size = querySchema.safeParse(req.query);
        if (!id.success || !size.success)
          return refuse(reply, new TianqiError('validation', 'bad instance id or terminal size'));
        try {
          const row = await visibleInstance(services, session, id.data);
          if (row.observed !== 'running')
            throw new TianqiError('conflict', `instance ${row.name} is not running (it is ${row.observed})`);
          // A browser signs in with the cookie; the CLI with its bearer token.
          req.terminal = { user: session, row, size: size.data, via: viaCookie ? 'web' : 'cli' };
        } catch (err) {
          if (err instanceof TianqiError) return refuse(reply, err);
          throw err;
        }
      },
    },
    (socket: WebSocket, req: FastifyRequest) => {
      const session = serve(services, socket, req).catch((err: unknown) =>
        services.logger.error({ err }, 'terminal failed'),
      );
      openTerminals.add(session);
      void session.finally(() => openTerminals.delete(session));
    },
  );
}

/** Output waiting for a slow client beyond this pauses the shell's output (backpressure). */
const HIGH_WATER = 1024 * 1024;

/** Terminals open now, so a shutdown can wait for them to be hung up and recorded. */
export const openTerminals = new Set<Promise<void>>();

async function serve(services: Services, socket: WebSocket, req: FastifyRequest): Promise<void> {
  const { user, row, size, via } = req.terminal!;
  const log = services.logger.child({ instanceId: row.instanceId, userId: user.userId, terminal: true });
  const startedAt = new Date();
  const ip = clientIp(req.ip);
  // Listen at once: a client may type, resize or leave while the shell is still being started.
  const early: { data: Buffer; isBinary: boolean }[] = [];
  const onEarly = (data: Buffer, isBinary: boolean) => {
    if (early.length < 100) early.push({ data, isBinary });
  };
  socket.on('message', onEarly);
  const socketClosed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  // Signed out, disabled or demoted meanwhile: the shell goes with the session.
  const revoked = new Promise<void>((resolve) => {
    const stop = services.sessions.onForget((u) => {
      if (u.userId === user.userId || u.sessionId === user.sessionId) {
        stop();
        resolve();
      }
    });
    void socketClosed.then(stop);
  });
  let shell: Awaited<ReturnType<typeof openShell>>;
  try {
    const { docker, containerId } = await containerOf(services, row);
    shell = await openShell(docker, containerId, size);
  } catch (err) {
    const e = dockerFailure(err, row);
    if (socket.readyState === socket.OPEN) {
      socket.send(JSON.stringify({ type: 'error', message: e.message }));
      socket.close(1011, e.code);
    }
    return;
  }
  socket.off('message', onEarly);
  const recorder = new Recorder({ ...size, term: 'xterm-256color' });
  services.metrics.terminals.inc();
  log.info('terminal opened');

  let alive = true;
  const keepalive = setInterval(() => {
    if (!alive) return socket.terminate();
    alive = false;
    socket.ping();
  }, KEEPALIVE_MS);
  socket.on('pong', () => {
    alive = true;
  });

  // Output: paused while the client has more than HIGH_WATER unread, resumed once it catches up.
  shell.onOutput((bytes) => {
    recorder.output(bytes);
    if (socket.readyState !== socket.OPEN) return;
    socket.send(bytes, { binary: true }, () => {
      if (socket.bufferedAmount < HIGH_WATER && shell.stream.isPaused()) shell.stream.resume();
    });
    if (socket.bufferedAmount >= HIGH_WATER) shell.stream.pause();
  });
  const onMessage = (data: Buffer, isBinary: boolean) => {
    alive = true;
    if (isBinary) {
      if (!shell.stream.writable) return;
      recorder.input(data);
      // Input: the client waits while Docker has not taken what was typed.
      if (!shell.stream.write(data)) {
        socket.pause();
        shell.stream.once('drain', () => socket.resume());
      }
      return;
    }
    let control: z.output<typeof controlSchema> | null = null;
    try {
      control = controlSchema.parse(JSON.parse(data.toString('utf8')));
    } catch {
      socket.send(
        JSON.stringify({
          type: 'error',
          message: 'a text frame must be {"type":"resize","cols":N,"rows":N}',
        }),
      );
      return;
    }
    if (control.type === 'resize') {
      recorder.resize(control.cols, control.rows);
      shell.resize(control.cols, control.rows).catch((err: unknown) => log.debug({ err }, 'resize failed'));
    }
  };
  socket.on('message', onMessage);
  for (const m of early.splice(0)) onMessage(m.data, m.isBinary);

  const ended = await Promise.race([
    shell.exited.then((code) => ({ by: 'shell' as const, code })),
    socketClosed.then(() => ({ by: 'client' as const, code: null })),
    revoked.then(() => ({ by: 'revoked' as const, code: null })),
  ]);
  clearInterval(keepalive);
  if (ended.by === 'shell') {
    if (socket.readyState === socket.OPEN) {
      socket.send(JSON.stringify({ type: 'exit', code: ended.code }));
      socket.close(1000, 'the shell ended');
    }
  } else {
    await shell.hangUp();
    if (socket.readyState === socket.OPEN) socket.close(4401, 'the session ended');
  }
  services.metrics.terminals.dec();
  log.info({ seconds: (Date.now() - startedAt.getTime()) / 1000, endedBy: ended.by }, 'terminal closed');
  await recordSession(services, log, {
    instanceId: row.instanceId,
    user,
    via,
    ip,
    startedAt,
    recorder,
    exitCode: ended.code,
  });
}
