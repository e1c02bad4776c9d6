import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type ssh2 from 'ssh2';
import type { Services } from '../access/services.js';
import { settleWithin } from '../shutdown/settle-within.js';
import { commandSession } from './command-session.js';
import { MAX_SESSIONS } from './descriptors.js';
import type { LoginName } from './login-name.js';
import { menuSession } from './menu-session.js';
import type { Channel, Pty, SessionContext, TerminalHooks } from './session.js';
import { SignIn } from './sign-in.js';
import type { JumpUser } from './targets.js';

const ACCESS_CHANGED =
  '\r\nYour access changed (the account was disabled, or its role or password changed): this connection is closed.\r\n';

/**
 * Ends a connection, and 2 s later drops its socket: ssh2's `end` only says goodbye and half-closes,
 * so a client that never closes its side would keep the connection (and its sessions' input) open.
 */
export function drop(client: ssh2.Connection): void {
  client.end();
  const socket = (client as ssh2.Connection & { _sock?: Socket })._sock;
  setTimeout(() => socket?.destroy(), 2_000).unref();
}

/** What a connection needs of the jumpbox it came to. */
export interface ConnectionHost {
  services: Services;
  log: Logger;
  idleMinutes: number;
  /** Keeps a session's work until it settles, so a stop can wait for it to be recorded. */
  track: (work: Promise<void>) => void;
}

/**
 * One SSH connection: its sign-in, who signed in, its idle timer, and its sessions (a menu or shell,
 * or one command), each on its own channel.
 */
export class Connection {
  #user: JumpUser | null = null;
  #login: LoginName | null = null;
  #lastActivity = Date.now();
  readonly #idle: NodeJS.Timeout;
  // Over for its sessions: closed, idle, or the user's access changed (their commands are hung up
  // then, whatever the client does).
  readonly #over: Promise<void>;
  #endSessions!: () => void;
  #revoked = false;
  // The connection's open channels, told why when the platform closes it.
  readonly #channels = new Set<Channel>();
  /** Session channels open now. */
  #openSessions = 0;
  #closed = false;
  readonly #signIn: SignIn;
  readonly #log: Logger;
  readonly #services: Services;

  constructor(
    private readonly client: ssh2.Connection,
    private readonly ip: string | null,
    private readonly host: ConnectionHost,
  ) {
    this.#log = host.log;
    this.#services = host.services;
    // SSH sends its small messages in twos and threes (SERVICE_ACCEPT after EXT_INFO; exit-status, EOF,
    // CLOSE): with Nagle's algorithm each second one waits for the client's delayed ACK, about 40 ms,
    // twice a session, and a keystroke's echo can wait the same.
    // (ssh2's connections have setNoDelay; its type definitions leave it out.)
    (client as ssh2.Connection & { setNoDelay(on: boolean): void }).setNoDelay(true);
    this.#idle = setInterval(
      () => {
        if (Date.now() - this.#lastActivity > host.idleMinutes * 60_000) {
          this.#log.info({ ip, user: this.#user?.username }, 'idle SSH connection closed');
          this.#endSessions();
          drop(client);
        }
      },
      Math.min(60_000, host.idleMinutes * 30_000),
    );
    this.#over = new Promise<void>((resolve) => {
      this.#endSessions = resolve;
    });
    this.#signIn = new SignIn(this.#services, this.#log, {
      ip,
      revoked: () => this.#revoked,
      closed: () => this.#closed,
      signedIn: ({ user, login }) => {
        this.#user = user;
        this.#login = login;
      },
      revoke: (username) => this.#revoke(username),
      drop: () => drop(client),
    });
    client.on('close', () => {
      this.#closed = true;
      clearInterval(this.#idle);
      this.#signIn.stopWatching();
      this.#endSessions();
    });
    client.on('error', (err) => this.#log.debug({ err, ip }, 'SSH connection error'));
    client.on('authentication', (ctx) => {
      this.#touch();
      this.#signIn.attempt(ctx);
    });
    client.on('ready', () => {
      client.on('session', (accept, reject) => this.#session(accept, reject));
    });
  }

  readonly #touch = () => {
    this.#lastActivity = Date.now();
  };

  #revoke(username: string): void {
    if (this.#revoked) return;
    this.#revoked = true;
    this.#signIn.stopWatching();
    this.#endSessions();
    this.#log.info({ ip: this.ip, user: username }, 'SSH connection closed: access changed');
    // Each session is told and closed first (a client may drop what is still to be shown when the
    // connection goes), then the connection.
    const closing = [...this.#channels].map((channel) => {
      const closed = new Promise((resolve) => channel.once('close', resolve));
      channel.stderr.write(ACCESS_CHANGED);
      channel.end();
      return closed;
    });
    void settleWithin(closing, 2_000).then(() => drop(this.client));
  }

  /** A session channel: its terminal as the client asks for it, then a shell or one command. */
  #session(accept: () => ssh2.Session, reject: () => void): void {
    // At most MAX_SESSIONS at once (OpenSSH's MaxSessions): each holds a Docker stream, and the
    // descriptor budget counts a connection with that many.
    if (this.#revoked || this.#openSessions >= MAX_SESSIONS) {
      reject();
      return;
    }
    const session = accept();
    this.#openSessions++;
    session.once('close', () => this.#openSessions--);
    // ssh2 closes a session as soon as the client says so, while a channel whose input is held
    // back (its command not reading) waits for that input to be read first.
    const sessionClosed = new Promise<void>((resolve) => session.once('close', () => resolve()));
    const context: SessionContext = {
      user: this.#user!,
      login: this.#login!,
      ip: this.ip,
      log: this.#log,
      touch: this.#touch,
      gone: Promise.race([this.#over, sessionClosed]),
    };
    let pty: Pty | null = null;
    let resize: ((cols: number, rows: number) => void) | null = null;
    const terminal: TerminalHooks = {
      pty: () => pty,
      onResize: (fn) => {
        resize = fn;
      },
    };
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
    session.on('shell', (ok, no) => {
      if (this.#revoked) return no?.();
      const channel = this.#open(ok);
      this.#run(menuSession(this.#services, channel, context, terminal), channel);
    });
    session.on('exec', (ok, no, info) => {
      if (this.#revoked) return no?.();
      const channel = this.#open(ok);
      this.#run(commandSession(this.#services, channel, context, info.command, terminal), channel);
    });
    session.on('subsystem', (_ok, no) => no?.());
  }

  #open(ok: () => Channel): Channel {
    const channel = ok();
    this.#channels.add(channel);
    channel.once('close', () => this.#channels.delete(channel));
    // A write after the platform ended it (output still coming in) is dropped, not thrown.
    channel.on('error', (err: Error) => this.#log.debug({ err, ip: this.ip }, 'SSH channel error'));
    // Held until something reads it: what the client sends first must not be lost.
    channel.pause();
    channel.on('data', this.#touch);
    return channel;
  }

  #run(work: Promise<void>, channel: Channel): void {
    this.host.track(
      work.catch((err: unknown) => {
        this.#log.warn({ err, ip: this.ip }, 'SSH session failed');
        // The client is told and let go, instead of waiting on a session that will not answer.
        try {
          channel.stderr.write(`The session failed: ${(err as Error).message}\r\n`);
          channel.exit(1);
          channel.end();
        } catch {
          // already closed
        }
      }),
    );
  }
}
