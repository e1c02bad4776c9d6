import type { Role } from '@tianqi/domain';
import type { SessionStore } from './sessions.js';

export interface SessionScope {
  /** Aborted when the session has ended: signed out, expired, or its user disabled or given another role. */
  signal: AbortSignal;
  /** Stops watching (the stream ended on its own). */
  release(): void;
}

/**
 * What a long-lived stream (a watch, followed logs, live stats) needs to end with its session, as
 * terminals and SSH connections do. Told that the session or its user changed (a sign-out, a disable,
 * a role or password change, on this server or another: each server's read models take the event in),
 * or when it was due to expire, it looks the session up afresh: gone, disabled or another role, the
 * stream ends; still good (the password change made in this very session, an expiry pushed out by use),
 * it goes on. A stream alone does not keep a session alive. While the database cannot answer, it goes on.
 */
export function sessionScope(
  sessions: SessionStore,
  session: { userId: string; sessionId: string; role: Role; expiresAt: Date },
): SessionScope {
  const controller = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  let released = false;
  const stop = sessions.onForget((who) => {
    if (who.userId === session.userId || who.sessionId === session.sessionId) void recheck();
  });
  const expireAt = (at: Date) => {
    clearTimeout(timer);
    // setTimeout holds at most 2^31 - 1 ms (24.8 days); sessions end sooner than that.
    timer = setTimeout(() => void recheck(), Math.min(Math.max(0, at.getTime() - Date.now()), 2 ** 31 - 1));
    timer.unref();
  };
  async function recheck() {
    if (released) return;
    const now = await sessions.current(session.sessionId).catch(() => undefined);
    if (released || now === undefined) return;
    if (now === null || now.role !== session.role) {
      release();
      controller.abort(new Error('the session ended'));
    } else {
      expireAt(now.expiresAt);
    }
  }
  function release() {
    released = true;
    stop();
    clearTimeout(timer);
  }
  expireAt(session.expiresAt);
  return { signal: controller.signal, release };
}
