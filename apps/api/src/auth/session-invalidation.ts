import type { PlatformEvent } from '@tianqi/projections';
import type { SessionStore } from './sessions.js';

/**
 * Forgets the cached session lookups that these events make stale, so that a role change, a disable,
 * a new password or a sign-out (on this or another API server) counts from the next request, even for
 * a session looked up just now.
 */
export function forgetStaleSessions(sessions: SessionStore, events: readonly PlatformEvent[]): void {
  for (const e of events) {
    if (e.type === 'RoleChanged' || e.type === 'UserDisabled' || e.type === 'PasswordChanged') {
      sessions.forgetUser(e.streamId.slice('user-'.length));
    }
    if (e.type === 'SignedOut') sessions.forgetSession(e.data.sessionId);
  }
}
