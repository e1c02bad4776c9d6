import { randomBytes } from 'node:crypto';
import type { Role } from '@tianqi/domain';
import type { Logger } from 'pino';
import type { Services } from '../access/services.js';
import type { Recorder } from './recording.js';

/** One terminal session that has ended, SSH or web, as its instance's history keeps it. */
export interface EndedSession {
  instanceId: string;
  user: { userId: string; role: Role };
  via: 'ssh' | 'web' | 'cli';
  ip: string | null;
  startedAt: Date;
  /** Null for a session that carries data, not a screen (an SSH command without a TTY). */
  recorder: Recorder | null;
  /** A one-command session's command line as it may be shown (secrets masked); absent for a shell. */
  command?: string | null;
  exitCode: number | null;
}

/**
 * Saves the session's recording, then records it as an event of its instance pointing at it. Neither
 * failing fails the session: it is over, and what could not be kept is logged.
 */
export async function recordSession(services: Services, log: Logger, session: EndedSession): Promise<void> {
  const { instanceId, user, via, ip } = session;
  const recordingId = session.recorder
    ? await session.recorder
        .save(services.pool, { instanceId, userId: user.userId, via })
        .catch((err: unknown) => {
          log.warn({ err }, 'could not keep the session recording');
          return null;
        })
    : null;
  await services.commands.instances
    .record(
      instanceId,
      {
        type: 'RecordTerminalSession',
        sessionId: randomBytes(9).toString('base64url'),
        userId: user.userId,
        via,
        ip,
        startedAt: session.startedAt.toISOString(),
        endedAt: new Date().toISOString(),
        recordingId,
        command: session.command ?? null,
        exitCode: session.exitCode,
      },
      { actor: { kind: 'user', userId: user.userId, role: user.role }, ip },
    )
    .catch((err: unknown) => log.warn({ err }, 'could not record the terminal session'));
}
