import { createHash, randomBytes } from 'node:crypto';
import type { LoginChannel, Role } from '@tianqi/domain';
import type pg from 'pg';

export interface SessionUser {
  sessionId: string;
  userId: string;
  username: string;
  role: Role;
  expiresAt: Date;
}

export interface SessionPolicy {
  idleMinutes: number;
  maxHours: number;
}

const digest = (token: string) => createHash('sha256').update(token).digest('base64url');

/** Tokens look like `tq_<43 base64url chars>`: easy to spot in a leaked log and to revoke. */
const TOKEN = /^tq_[A-Za-z0-9_-]{43}$/;

/**
 * Sign-in sessions: a random token handed out once (cookie or bearer), kept only as a digest. A session
 * ends after `idleMinutes` unused or `maxHours` in all, at logout, when the password changes (the
 * other sessions), and at once when its user is disabled.
 */
export class SessionStore {
  /**
   * Sessions looked up in the last few seconds, so a burst of requests costs one query. Dropped at
   * once on logout, password change, role change and disable in this process (see forgetUser).
   */
  readonly #recent = new Map<string, { user: SessionUser; until: number }>();
  readonly #listeners = new Set<(who: { userId?: string; sessionId?: string }) => void>();
  /** Bumped by every forget: a lookup that overlapped one is not cached (it may be from before). */
  #generation = 0;
  /** Other API servers: told of each session ended here, and answering once they forgot it. */
  #tellOthers: ((who: { userId?: string; sessionId?: string }) => Promise<void>) | null = null;

  constructor(
    private readonly pool: pg.Pool,
    private readonly policy: SessionPolicy,
    private readonly cacheMs = 5_000,
  ) {}

  async create(input: {
    userId: string;
    via: LoginChannel;
    ip: string | null;
    userAgent: string | null;
  }): Promise<{ token: string; sessionId: string; expiresAt: Date }> {
    const token = `tq_${randomBytes(32).toString('base64url')}`;
    const sessionId = randomBytes(9).toString('base64url');
    const { rows } = await this.pool.query<{ expires_at: Date }>(
      `INSERT INTO auth_sessions (token_digest, session_id, user_id, via, ip, user_agent, expires_at)
       VALUES ($1, $2, $3, $4, $5, $6, now() + make_interval(mins => $7))
       RETURNING expires_at`,
      [
        digest(token),
        sessionId,
        input.userId,
        input.via,
        input.ip,
        input.userAgent?.slice(0, 300) ?? null,
        Math.min(this.policy.idleMinutes, this.policy.maxHours * 60),
      ],
    );
    return { token, sessionId, expiresAt: rows[0]!.expires_at };
  }

  /**
   * The signed-in user behind a token, or null (unknown, expired, or the user is disabled). Using a
   * session pushes its idle expiry out, at most once a minute and never past its maximum age.
   */
  async resolve(token: string): Promise<SessionUser | null> {
    if (!TOKEN.test(token)) return null;
    const key = digest(token);
    const now = Date.now();
    const recent = this.#recent.get(key);
    if (recent && recent.until > now && recent.user.expiresAt.getTime() > now) return recent.user;
    const generation = this.#generation;
    const user = await this.#lookup(key);
    if (this.#recent.size >= 10_000) this.#recent.clear();
    if (user && generation === this.#generation) this.#recent.set(key, { user, until: now + this.cacheMs });
    else this.#recent.delete(key);
    return user;
  }

  async #lookup(key: string): Promise<SessionUser | null> {
    const { rows } = await this.pool.query<{
      session_id: string;
      user_id: string;
      username: string;
      role: Role;
      disabled: boolean;
      expires_at: Date;
      stale: boolean;
    }>(
      `SELECT s.session_id, s.user_id, u.username, u.role, u.disabled, s.expires_at,
              s.last_seen_at < now() - interval '1 minute' AS stale
       FROM auth_sessions s JOIN rm.users u ON u.user_id = s.user_id
       WHERE s.token_digest = $1 AND s.expires_at > now()`,
      [key],
    );
    const row = rows[0];
    if (!row || row.disabled) return null;
    let expiresAt = row.expires_at;
    if (row.stale) {
      const { rows: touched } = await this.pool.query<{ expires_at: Date }>(
        `UPDATE auth_sessions SET last_seen_at = now(),
           expires_at = least(created_at + make_interval(hours => $2), now() + make_interval(mins => $3))
         WHERE token_digest = $1 RETURNING expires_at`,
        [key, this.policy.maxHours, this.policy.idleMinutes],
      );
      expiresAt = touched[0]?.expires_at ?? expiresAt;
    }
    return {
      sessionId: row.session_id,
      userId: row.user_id,
      username: row.username,
      role: row.role,
      expiresAt,
    };
  }

  /**
   * A session as it stands now, looked up afresh (no cache): null when it ended or its user is
   * disabled. What a long-lived stream asks when told its session may have changed.
   */
  async current(sessionId: string): Promise<{ userId: string; role: Role; expiresAt: Date } | null> {
    const { rows } = await this.pool.query<{ user_id: string; role: Role; expires_at: Date }>(
      `SELECT s.user_id, u.role, s.expires_at FROM auth_sessions s JOIN rm.users u ON u.user_id = s.user_id
       WHERE s.session_id = $1 AND s.expires_at > now() AND NOT u.disabled`,
      [sessionId],
    );
    const row = rows[0];
    return row ? { userId: row.user_id, role: row.role, expiresAt: row.expires_at } : null;
  }

  /**
   * With several API servers: a sign-out, disable or password change here resolves only once every
   * other live server has forgotten the sessions it ended, so none trusts them a moment longer.
   */
  shareWith(tellOthers: (who: { userId?: string; sessionId?: string }) => Promise<void>): void {
    this.#tellOthers = tellOthers;
  }

  async revoke(sessionId: string): Promise<void> {
    this.forgetSession(sessionId);
    await this.pool.query('DELETE FROM auth_sessions WHERE session_id = $1', [sessionId]);
    await this.#tellOthers?.({ sessionId });
  }

  /** Looks a session up again on its next request (it ended on another API server). */
  forgetSession(sessionId: string): void {
    this.#forget((u) => u.sessionId === sessionId, { sessionId });
  }

  /** Looks a user's sessions up again on their next request (their role or status changed). */
  forgetUser(userId: string): void {
    this.#forget((u) => u.userId === userId, { userId });
  }

  #forget(match: (user: SessionUser) => boolean, who: { userId?: string; sessionId?: string }): void {
    this.#generation++;
    for (const [key, { user }] of this.#recent) if (match(user)) this.#recent.delete(key);
    for (const listener of this.#listeners) listener(who);
  }

  /**
   * Told when a session ends or a user's sessions must be looked at again (logout, disable, role or
   * password change): long-lived connections (terminals) close on it. Returns the unsubscribe.
   */
  onForget(listener: (who: { userId?: string; sessionId?: string }) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** Ends every session of a user, except `keep` (the one that changed the password). */
  async revokeUser(userId: string, keep?: string): Promise<number> {
    this.forgetUser(userId);
    const { rowCount } = await this.pool.query(
      'DELETE FROM auth_sessions WHERE user_id = $1 AND session_id IS DISTINCT FROM $2',
      [userId, keep ?? null],
    );
    await this.#tellOthers?.({ userId });
    return rowCount ?? 0;
  }

  /** Forgets sessions that ended: run now and then. */
  async sweep(): Promise<number> {
    const { rowCount } = await this.pool.query('DELETE FROM auth_sessions WHERE expires_at <= now()');
    return rowCount ?? 0;
  }
}
