import { type LoginChannel, streams, TianqiError } from '@tianqi/domain';
import type { PlatformStore } from '@tianqi/projections';
import type { Logger } from 'pino';
import type { UserCommands, UserView } from '../commands/index.js';
import type { LoginLimiter } from './login-limiter.js';
import type { SessionStore } from './sessions.js';

export interface LoginAttempt {
  username: string;
  password: string;
  via: LoginChannel;
  ip: string | null;
  userAgent?: string | null;
}

export interface LoginResult {
  token: string;
  sessionId: string;
  expiresAt: Date;
  user: UserView;
}

/** One answer for a wrong name and a wrong password: which one was wrong is not told. */
const WRONG = 'wrong username or password';

/**
 * Signs people in with a password (web, CLI, and later the jumpbox): rate-limited per name and per
 * address, every attempt recorded as an event with the source address.
 */
export class AuthService {
  constructor(
    private readonly deps: {
      store: PlatformStore;
      users: UserCommands;
      sessions: SessionStore;
      limiter: LoginLimiter;
      logger: Logger;
      onLogin?: (outcome: 'success' | 'failure' | 'limited', via: LoginChannel) => void;
    },
  ) {}

  /** Checks a password and records the attempt; the user on success, else a typed error. */
  async verifyPassword(attempt: Omit<LoginAttempt, 'userAgent'>): Promise<UserView> {
    const { username, password, via, ip } = attempt;
    const { limiter, users } = this.deps;
    let done: () => void;
    try {
      done = limiter.begin(username, ip);
    } catch (err) {
      this.deps.onLogin?.('limited', via);
      throw err;
    }
    let user: UserView | null;
    try {
      user = await users.verifyLogin(username, password);
    } finally {
      done();
    }
    if (!user) {
      this.deps.onLogin?.('failure', via);
      // Counted before the slow part, so a burst of guesses meets the lockout as it forms.
      const waited = limiter.failure(username, ip);
      await this.#recordFailure(username, via, ip, 'password');
      await waited;
      throw new TianqiError('unauthorized', WRONG);
    }
    limiter.success(username);
    this.deps.onLogin?.('success', via);
    await this.#record(user.userId, ip, { succeeded: true, via, method: 'password' });
    return user;
  }

  async login(attempt: LoginAttempt): Promise<LoginResult> {
    const user = await this.verifyPassword(attempt);
    const session = await this.deps.sessions.create({
      userId: user.userId,
      via: attempt.via,
      ip: attempt.ip,
      userAgent: attempt.userAgent ?? null,
    });
    return { ...session, user };
  }

  async #recordFailure(username: string, via: LoginChannel, ip: string | null, method: 'password') {
    const known = await this.deps.users.byUsername(username).catch(() => null);
    if (known) {
      const reason = known.disabled ? 'the user is disabled' : 'wrong password';
      await this.#record(known.userId, ip, { succeeded: false, via, method, reason });
      return;
    }
    await this.deps.store
      .append(
        streams.unknownLogins,
        'any',
        [{ type: 'UnknownUserLoginFailed', data: { username: username.slice(0, 64), via, method } }],
        { metadata: { actorUserId: 'system:auth', actorIp: ip } },
      )
      .catch((err: unknown) => this.deps.logger.warn({ err }, 'could not record a failed sign-in'));
  }

  /** Records a sign-in made another way (an SSH key) as the password ones are. */
  recordLogin(
    userId: string,
    ip: string | null,
    login: { succeeded: boolean; via: LoginChannel; method: 'password' | 'publickey'; reason?: string },
  ): Promise<void> {
    this.deps.onLogin?.(login.succeeded ? 'success' : 'failure', login.via);
    return this.#record(userId, ip, login);
  }

  async #record(
    userId: string,
    ip: string | null,
    login: { succeeded: boolean; via: LoginChannel; method: 'password' | 'publickey'; reason?: string },
  ) {
    await this.deps.users
      .act(userId, { type: 'RecordLogin', ...login }, { actor: { kind: 'system', name: 'auth' }, ip })
      .catch((err: unknown) => this.deps.logger.warn({ err }, 'could not record a sign-in'));
  }
}
