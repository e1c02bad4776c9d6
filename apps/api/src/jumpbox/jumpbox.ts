import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { TianqiError } from '@tianqi/domain';
import type { Logger } from 'pino';
import ssh2 from 'ssh2';
import { clientIp } from '../api/request-auth.js';
import type { Services } from '../api/services.js';
import { settleWithin } from '../shutdown/settle-within.js';
import { Admission, type AdmissionLimits, DEFAULT_ADMISSION } from './admission.js';
import { commandSession } from './command-session.js';
import { openFileLimit, sshConnectionBudget } from './descriptors.js';
import { loadHostKey } from './host-key.js';
import { type LoginName, parseLoginName } from './login-name.js';
import { menuSession } from './menu-session.js';
import { poolPadding } from './padding-pool.js';
import type { Channel, Pty, SessionContext, TerminalHooks } from './session.js';
import type { JumpUser } from './targets.js';

export interface JumpboxOptions {
  port: number;
  host: string;
  hostKey: string;
  dataDir: string;
  banner: string;
  idleMinutes: number;
  /** Before sign-in: grace time, handshake bound, caps (defaults: DEFAULT_ADMISSION). */
  admission?: Partial<AdmissionLimits>;
  /** SSH connections open at once; 0 or absent: from the open-file limit (descriptors.ts). */
  maxConnections?: number;
}

/**
 * Ends a connection, and 2 s later drops its socket: ssh2's `end` only says goodbye and half-closes,
 * so a client that never closes its side would keep the connection (and its sessions' input) open.
 */
function drop(client: ssh2.Connection): void {
  client.end();
  const socket = (client as ssh2.Connection & { _sock?: Socket })._sock;
  setTimeout(() => socket?.destroy(), 2_000).unref();
}

/** Refused sign-in attempts one connection may make (OpenSSH's MaxAuthTries default). */
export const MAX_AUTH_TRIES = 6;

const ACCESS_CHANGED =
  '\r\nYour access changed (the account was disabled, or its role or password changed): this connection is closed.\r\n';

/**
 * The SSH jumpbox: `ssh -p 2026 user@host` signs in with the platform's accounts (password or a
 * registered public key) and gets a menu of their instances; `user+instance@host` goes straight to one;
 * `user+instance@host 'cmd'` runs one command with its exit code and its stdout and stderr apart (scp
 * and rsync work through it). Every route checks ownership on the server.
 */
export class Jumpbox {
  /** The listening socket: ours, not ssh2's, so a refused connection never reaches ssh2. */
  #listener: Server | null = null;
  #admission: Admission | null = null;
  readonly #connections = new Set<ssh2.Connection>();
  readonly #sessions = new Set<Promise<void>>();
  readonly #log: Logger;

  constructor(
    private readonly services: Services,
    private readonly options: JumpboxOptions,
  ) {
    this.#log = services.logger.child({ component: 'jumpbox' });
  }

  async start(): Promise<number> {
    poolPadding();
    const hostKey = await loadHostKey(this.options.hostKey, this.options.dataDir);
    const admission = new Admission({ ...DEFAULT_ADMISSION, ...this.options.admission }, this.#log);
    const limit = openFileLimit();
    const maxConnections = sshConnectionBudget(limit, this.options.maxConnections ?? 0);
    const server = new ssh2.Server(
      {
        hostKeys: [hostKey],
        banner: this.options.banner,
        ident: 'Tianqi',
        keepaliveInterval: 30_000,
        keepaliveCountMax: 4,
      },
      (client, info) => {
        admission.follow(client);
        this.#accept(client, clientIp(info.ip));
      },
    );
    const listener = createServer((socket) => {
      if (admission.admit(socket)) server.injectSocket(socket);
    });
    // Past the budget Node closes the accepted handle itself, before a socket object exists.
    listener.maxConnections = maxConnections;
    listener.on('drop', (data?: { remoteAddress?: string }) =>
      admission.refuse('descriptors', clientIp(data?.remoteAddress) ?? 'unknown'),
    );
    this.#listener = listener;
    this.#admission = admission;
    await new Promise<void>((resolve, reject) => {
      listener.once('error', reject);
      listener.listen(this.options.port, this.options.host, () => {
        listener.off('error', reject);
        resolve();
      });
    });
    listener.on('error', (err: Error) => this.#log.error({ err }, 'SSH jumpbox error'));
    const port = (listener.address() as AddressInfo).port;
    this.#log.info(
      { port, maxConnections, openFileLimit: limit, ...admission.limits },
      'SSH jumpbox listening',
    );
    return port;
  }

  /** Stops taking connections, closes the open ones, and waits for their sessions to be recorded. */
  async stop(): Promise<void> {
    const listener = this.#listener;
    if (!listener) return;
    this.#listener = null;
    const closed = new Promise<void>((resolve) => listener.close(() => resolve()));
    this.#admission?.closeAll();
    for (const c of this.#connections) drop(c);
    await settleWithin([...this.#sessions], 10_000);
    await closed;
  }

  #accept(client: ssh2.Connection, ip: string | null): void {
    this.#connections.add(client);
    // SSH sends its small messages in twos and threes (SERVICE_ACCEPT after EXT_INFO; exit-status, EOF,
    // CLOSE): with Nagle's algorithm each second one waits for the client's delayed ACK, about 40 ms,
    // twice a session, and a keystroke's echo can wait the same.
    // (ssh2's connections have setNoDelay; its type definitions leave it out.)
    (client as ssh2.Connection & { setNoDelay(on: boolean): void }).setNoDelay(true);
    let user: JumpUser | null = null;
    let login: LoginName | null = null;
    let lastActivity = Date.now();
    const touch = () => {
      lastActivity = Date.now();
    };
    const idle = setInterval(
      () => {
        if (Date.now() - lastActivity > this.options.idleMinutes * 60_000) {
          this.#log.info({ ip, user: user?.username }, 'idle SSH connection closed');
          endSessions();
          drop(client);
        }
      },
      Math.min(60_000, this.options.idleMinutes * 30_000),
    );
    // Over for its sessions: closed, idle, or the user's access changed (their commands are hung up
    // then, whatever the client does).
    let endSessions!: () => void;
    const over = new Promise<void>((resolve) => {
      endSessions = resolve;
    });
    let revoked = false;
    // The connection's open channels, told why when the platform closes it.
    const channels = new Set<Channel>();
    let stopWatching = () => {};
    client.on('close', () => {
      clearInterval(idle);
      stopWatching();
      endSessions();
      this.#connections.delete(client);
    });
    client.on('error', (err) => this.#log.debug({ err, ip }, 'SSH connection error'));

    const revoke = (username: string) => {
      if (revoked) return;
      revoked = true;
      stopWatching();
      endSessions();
      this.#log.info({ ip, user: username }, 'SSH connection closed: access changed');
      // Each session is told and closed first (a client may drop what is still to be shown when the
      // connection goes), then the connection.
      const closing = [...channels].map((channel) => {
        const closed = new Promise((resolve) => channel.once('close', resolve));
        channel.stderr.write(ACCESS_CHANGED);
        channel.end();
        return closed;
      });
      void settleWithin(closing, 2_000).then(() => drop(client));
    };

    // Refused sign-in attempts on this connection (key queries included, `none` not), as OpenSSH's
    // MaxAuthTries: past the bound the connection is dropped, so no one tries a bag of keys in one.
    let refused = 0;
    const refuse = (ctx: ssh2.AuthContext) => {
      if (ctx.method !== 'none' && ++refused >= MAX_AUTH_TRIES) {
        this.#log.info({ ip, user: ctx.username }, 'SSH connection closed: too many sign-in attempts');
        ctx.reject([], false);
        return drop(client);
      }
      ctx.reject(['password', 'publickey']);
    };
    client.on('authentication', (ctx) => {
      touch();
      void this.#authenticate(ctx, ip).then(async (signedIn) => {
        if (!signedIn || revoked) return refuse(ctx);
        // A key offered without a signature only asks whether it would do: nobody is signed in yet.
        if (ctx.method === 'publickey' && !ctx.signature) return ctx.accept();
        // Disabled, demoted or given a new password meanwhile: the connection goes, as the user's web
        // sessions and terminals do.
        stopWatching();
        stopWatching = this.services.sessions.onForget((who) => {
          if (who.userId === signedIn.user.userId) revoke(signedIn.user.username);
        });
        // A change that came while the password was being checked, before the watch: seen now.
        const now = await this.services.commands.users.byUsername(signedIn.user.username).catch(() => null);
        if (!now || now.disabled || now.role !== signedIn.user.role || now.userId !== signedIn.user.userId) {
          return refuse(ctx);
        }
        user = signedIn.user;
        login = signedIn.login;
        ctx.accept();
      });
    });

    client.on('ready', () => {
      client.on('session', (accept, reject) => {
        if (revoked) return reject();
        const session = accept();
        // ssh2 closes a session as soon as the client says so, while a channel whose input is held
        // back (its command not reading) waits for that input to be read first.
        const sessionClosed = new Promise<void>((resolve) => session.once('close', () => resolve()));
        const context: SessionContext = {
          user: user!,
          login: login!,
          ip,
          log: this.#log,
          touch,
          gone: Promise.race([over, sessionClosed]),
        };
        let pty: Pty | null = null;
        let resize: ((cols: number, rows: number) => void) | null = null;
        session.on('pty', (ok, _no, info) => {
          pty = { cols: info.cols || 80, rows: info.rows || 24, term: info.term || 'xterm' };
          ok?.();
        });
        session.on('window-change', (ok, _no, info) => {
          if (pty) pty = { ...pty, cols: info.cols, rows: info.rows };
          resize?.(info.cols, info.rows);
          ok?.();
        });
        session.on('env', (ok) => ok?.());
        const run = (work: Promise<void>, channel: Channel) => {
          const tracked = work.catch((err: unknown) => {
            this.#log.warn({ err, ip }, 'SSH session failed');
            // The client is told and let go, instead of waiting on a session that will not answer.
            try {
              channel.stderr.write(`The session failed: ${(err as Error).message}\r\n`);
              channel.exit(1);
              channel.end();
            } catch {
              // already closed
            }
          });
          this.#sessions.add(tracked);
          void tracked.finally(() => this.#sessions.delete(tracked));
        };
        const open = (ok: () => Channel) => {
          const channel = ok();
          channels.add(channel);
          channel.once('close', () => channels.delete(channel));
          // A write after the platform ended it (output still coming in) is dropped, not thrown.
          channel.on('error', (err: Error) => this.#log.debug({ err, ip }, 'SSH channel error'));
          // Held until something reads it: what the client sends first must not be lost.
          channel.pause();
          channel.on('data', touch);
          return channel;
        };
        session.on('shell', (ok, no) => {
          if (revoked) return no?.();
          const channel = open(ok);
          run(menuSession(this.services, channel, context, terminal), channel);
        });
        const terminal: TerminalHooks = {
          pty: () => pty,
          onResize: (fn) => {
            resize = fn;
          },
        };
        session.on('exec', (ok, no, info) => {
          if (revoked) return no?.();
          const channel = open(ok);
          run(commandSession(this.services, channel, context, info.command, terminal), channel);
        });
        session.on('subsystem', (_ok, no) => no?.());
      });
    });
  }

  /** Password or a registered public key; rate-limited and recorded like the web sign-in. */
  async #authenticate(
    ctx: ssh2.AuthContext,
    ip: string | null,
  ): Promise<{ user: JumpUser; login: LoginName } | null> {
    let login: LoginName;
    try {
      login = parseLoginName(ctx.username);
    } catch {
      return null;
    }
    const { auth, commands } = this.services;
    try {
      if (ctx.method === 'password') {
        const user = await auth.verifyPassword({
          username: login.username,
          password: ctx.password,
          via: 'ssh',
          ip,
        });
        return { user: { userId: user.userId, username: user.username, role: user.role }, login };
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
          return found
            ? {
                user: { userId: found.user.userId, username: found.user.username, role: found.user.role },
                login,
              }
            : null;
        }
        const { signature, blob } = ctx;
        const user = await auth.verifyKey({ username: login.username, via: 'ssh', ip }, async () => {
          const found = await keyOf();
          return found && found.key.verify(blob, signature, ctx.hashAlgo) === true ? found.user : null;
        });
        return { user: { userId: user.userId, username: user.username, role: user.role }, login };
      }
    } catch (err) {
      if (!(err instanceof TianqiError)) this.#log.warn({ err }, 'SSH sign-in failed');
    }
    return null;
  }
}
