import { type LoginChannel, streams, TianqiError } from '@tianqi/domain';
import { type PlatformStore, signedInFrom } from '@tianqi/projections';
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

type LoginMethod = 'password' | 'publickey';

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
  verifyPassword(attempt: Omit<LoginAttempt, 'userAgent'>): Promise<UserView> {
    const { username, password } = attempt;
    return this.#verify(attempt, 'password', () => this.deps.users.verifyLogin(username, password));
  }

  /**
   * A signed public-key sign-in (SSH): `verify` answers the user when the key is theirs and the
   * signature holds. Limited, counted and recorded exactly as a password is.
   */
  verifyKey(
    attempt: { username: string; via: LoginChannel; ip: string | null },
    verify: () => Promise<UserView | null>,
  ): Promise<UserView> {
    return this.#verify(attempt, 'publickey', verify);
  }

  /** Throws `rate_limited` while this name and address may not try (a key query asks this first). */
  checkLimit(username: string, ip: string | null): void {
    this.deps.limiter.check(username, ip);
  }

  async #verify(
    attempt: { username: string; via: LoginChannel; ip: string | null },
    method: LoginMethod,
    verify: () => Promise<UserView | null>,
  ): Promise<UserView> {
    const { username, via, ip } = attempt;
    const { limiter } = this.deps;
    // Held back by the name's throttle only because this server has not seen the address: the event
    // log says whether the owner signed in from it lately (after a restart, or on another server).
    if (ip && limiter.throttledAsUnknown(username, ip)) {
      const user = await this.deps.users.byUsername(username).catch(() => null);
      const since = new Date(Date.now() - limiter.knownMs);
      if (user && (await signedInFrom(this.deps.store.pool, user.userId, ip, since).catch(() => false)))
        limiter.remember(username, ip);
    }
    let done: () => void;
    try {
      done = limiter.begin(username, ip);
    } catch (err) {
      this.deps.onLogin?.('limited', via);
      throw err;
    }
    let user: UserView | null;
    try {
      user = await verify();
    } finally {
      done();
    }
    if (!user) {
      this.deps.onLogin?.('failure', via);
      // Counted before the slow part, so a burst of guesses meets the lockout as it forms.
      const waited = limiter.failure(username, ip);
      await this.#recordFailure(username, via, ip, method);
      await waited;
      throw new TianqiError(
        'unauthorized',
        method === 'password' ? WRONG : 'that key does not sign in this user',
      );
    }
    limiter.success(username, ip);
    this.deps.onLogin?.('success', via);
    await this.#record(user.userId, ip, { succeeded: true, via, method });
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

  async #recordFailure(username: string, via: LoginChannel, ip: string | null, method: LoginMethod) {
    const known = await this.deps.users.byUsername(username).catch(() => null);
    if (known) {
      const reason = known.disabled
        ? 'the user is disabled'
        : method === 'password'
          ? 'wrong password'
          : 'key not registered or bad signature';
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
