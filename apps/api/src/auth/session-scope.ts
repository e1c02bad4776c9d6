import type { SessionStore } from './sessions.js';

export interface SessionScope {
  /** Aborted when the session ends: signed out, expired, or its user's access changed. */
  signal: AbortSignal;
  /** Stops watching (the stream ended on its own). */
  release(): void;
}

/**
 * What a long-lived stream (a watch, followed logs, live stats) needs to end with its session, as
 * terminals and SSH connections do: signed out or expired, or the user disabled, given another role
 * or password — on this server or another (each server's read models take the event in and forget the
 * session). A client that still may reconnects and is looked up again; a stream alone does not keep a
 * session alive.
 */
export function sessionScope(
  sessions: SessionStore,
  session: { userId: string; sessionId: string; expiresAt: Date },
): SessionScope {
  const controller = new AbortController();
  const stop = sessions.onForget((who) => {
    if (who.userId === session.userId || who.sessionId === session.sessionId) end();
  });
  // setTimeout holds at most 2^31 - 1 ms (24.8 days); sessions end sooner than that.
  const timer = setTimeout(end, Math.min(Math.max(0, session.expiresAt.getTime() - Date.now()), 2 ** 31 - 1));
  timer.unref();
  function end() {
    release();
    controller.abort(new Error('the session ended'));
  }
  function release() {
    stop();
    clearTimeout(timer);
  }
  return { signal: controller.signal, release };
}
