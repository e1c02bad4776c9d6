import { TianqiError } from '@tianqi/domain';
import type { Logger } from 'pino';
import ssh2 from 'ssh2';
import type { Services } from '../access/services.js';
import { type LoginName, parseLoginName } from './login-name.js';
import type { JumpUser } from './targets.js';

/** Refused sign-in attempts one connection may make (OpenSSH's MaxAuthTries default). */
export const MAX_AUTH_TRIES = 6;

export interface SignedIn {
  user: JumpUser;
  login: LoginName;
}

/** What a connection's sign-in needs of the connection. */
export interface SignInHost {
  ip: string | null;
  /** The user's access changed on this connection: nobody signs in on it any more. */
  revoked: () => boolean;
  /** The connection has closed: an answer that comes after it is dropped, and nothing is watched. */
  closed: () => boolean;
  signedIn: (who: SignedIn) => void;
  /** The signed-in user was disabled, demoted or given a new password. */
  revoke: (username: string) => void;
  drop: () => void;
}

/** One connection's sign-in: its attempts answered and counted, then its user's access watched. */
export class SignIn {
  // Refused sign-in attempts on this connection (key queries included, `none` not), as OpenSSH's
  // MaxAuthTries: past the bound the connection is dropped, so no one tries a bag of keys in one.
  #refused = 0;
  #stopWatching = () => {};

  constructor(
    private readonly services: Services,
    private readonly log: Logger,
    private readonly host: SignInHost,
  ) {}

  /** One `authentication` request: accepted, or refused and counted. */
  attempt(ctx: ssh2.AuthContext): void {
    void authenticate(this.services, this.log, ctx, this.host.ip).then(async (signedIn) => {
      // Gone meanwhile (closed during the check): nothing to watch, nobody to answer.
      if (this.host.closed()) return;
      if (!signedIn || this.host.revoked()) return this.#refuse(ctx);
      // A key offered without a signature only asks whether it would do: nobody is signed in yet.
      if (ctx.method === 'publickey' && !ctx.signature) return ctx.accept();
      // Disabled, demoted or given a new password meanwhile: the connection goes, as the user's web
      // sessions and terminals do.
      this.stopWatching();
      this.#stopWatching = this.services.sessions.onForget((who) => {
        if (who.userId === signedIn.user.userId) this.host.revoke(signedIn.user.username);
      });
      // A change that came while the password was being checked, before the watch: seen now.
      const now = await this.services.commands.users.byUsername(signedIn.user.username).catch(() => null);
      if (!now || now.disabled || now.role !== signedIn.user.role || now.userId !== signedIn.user.userId) {
        return this.#refuse(ctx);
      }
      this.host.signedIn(signedIn);
      ctx.accept();
    });
  }

  /** Stops following the user's access: the connection is closed, or being closed for it. */
  stopWatching(): void {
    this.#stopWatching();
  }

  #refuse(ctx: ssh2.AuthContext): void {
    if (ctx.method !== 'none' && ++this.#refused >= MAX_AUTH_TRIES) {
      this.log.info(
        { ip: this.host.ip, user: ctx.username },
        'SSH connection closed: too many sign-in attempts',
      );
      ctx.reject([], false);
      this.host.drop();
      return;
    }
    ctx.reject(['password', 'publickey']);
  }
}

/** Password or a registered public key; rate-limited and recorded like the web sign-in. */
async function authenticate(
  services: Services,
  log: Logger,
  ctx: ssh2.AuthContext,
  ip: string | null,
): Promise<SignedIn | null> {
  let login: LoginName;
  try {
    login = parseLoginName(ctx.username);
  } catch {
    return null;
  }
  const signedInAs = (user: JumpUser): SignedIn => ({
    user: { userId: user.userId, username: user.username, role: user.role },
    login,
  });
  const { auth, commands } = services;
  try {
    if (ctx.method === 'password') {
      return signedInAs(
        await auth.verifyPassword({ username: login.username, password: ctx.password, via: 'ssh', ip }),
      );
    }
    if (ctx.method === 'publickey') {
      const keyOf = async () => {
        const user = await commands.users.byUsername(login.username);
        if (!user || user.disabled) return null;
        const key = user.sshKeys
          .map((k) => ssh2.utils.parseKey(`${k.algorithm} ${k.key}`))
          .find(
            (k): k is ssh2.ParsedKey =>
              !(k instanceof Error) && k.type === ctx.key.algo && k.getPublicSSH().equals(ctx.key.data),
          );
        return key ? { user, key } : null;
      };
      // Without a signature the client only asks whether the key would do: not a failure (an agent
      // offers each of its keys), but a locked name or address is refused here too, and the
      // connection counts it (see MAX_AUTH_TRIES).
      if (!ctx.signature || !ctx.blob) {
        auth.checkLimit(login.username, ip);
        const found = await keyOf();
        return found ? signedInAs(found.user) : null;
      }
      const { signature, blob } = ctx;
      const user = await auth.verifyKey({ username: login.username, via: 'ssh', ip }, async () => {
        const found = await keyOf();
        return found && found.key.verify(blob, signature, ctx.hashAlgo) === true ? found.user : null;
      });
      return signedInAs(user);
    }
  } catch (err) {
    if (!(err instanceof TianqiError)) log.warn({ err }, 'SSH sign-in failed');
  }
  return null;
}
