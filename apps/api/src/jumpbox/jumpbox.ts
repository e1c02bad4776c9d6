import { type AddressInfo, createServer, type Server, type Socket } from 'node:net';
import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { TianqiError } from '@tianqi/domain';
import { getInstance } from '@tianqi/projections';
import type Docker from 'dockerode';
import type { Logger } from 'pino';
import ssh2 from 'ssh2';
import { containerOf } from '../api/instance-access.js';
import { clientIp } from '../api/request-auth.js';
import type { Services } from '../api/services.js';
import { startExec } from '../docker/exec.js';
import { hangUp, PidAnnouncement } from '../docker/exec-pid.js';
import { settleWithin } from '../shutdown/settle-within.js';
import { Recorder } from '../terminal/recording.js';
import { followSize, openShell, shellCommand } from '../terminal/shell.js';
import { Admission, type AdmissionLimits, DEFAULT_ADMISSION } from './admission.js';
import { openFileLimit, sshConnectionBudget } from './descriptors.js';
import { demultiplex } from './frames.js';
import { loadHostKey } from './host-key.js';
import { LineEditor } from './line-editor.js';
import { type LoginName, parseLoginName } from './login-name.js';
import { type MenuEntry, PROMPT, readChoice, renderMenu } from './menu.js';
import { poolPadding } from './padding-pool.js';
import { redactCommand } from './redact.js';
import {
  type Channel,
  finish,
  finishErr,
  type Pty,
  recordSshSession,
  type SessionContext,
  type TerminalHooks,
} from './session.js';
import { type JumpUser, menuEntries, routeTarget, stillAllowed } from './targets.js';

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
          run(this.#shell(channel, context, terminal), channel);
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
          run(this.#command(channel, context, info.command, terminal), channel);
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

  /** An interactive session: the menu, or straight into the instance the login named. */
  async #shell(channel: Channel, context: SessionContext, terminal: TerminalHooks): Promise<void> {
    const { pool } = this.services;
    const { user, login } = context;
    if (login.instance) {
      const target = await routeTarget(pool, user, login.instance);
      if (!target) return finish(channel, 1, `No instance ${login.instance.name} of yours.\r\n`);
      return this.#open(channel, context, target, terminal);
    }
    const entries = await menuEntries(pool, user);
    if (entries.length === 0) {
      return finish(
        channel,
        0,
        'You have no instances with a container yet. Create one in the web app or with `tianqi instance create`.\r\n',
      );
    }
    channel.write(
      `Signed in as ${user.username}${user.role === 'admin' ? ' (admin: every instance)' : ''}.\r\n`,
    );
    channel.write(renderMenu(entries, user.role === 'admin'));
    channel.write(PROMPT);
    const editor = new LineEditor();
    const typed: { rest: Buffer } = { rest: Buffer.alloc(0) };
    for (;;) {
      let line: string | null = null;
      // Lines already typed (piped) are read before waiting for more.
      const queued = typed.rest.length > 0 ? editor.feed(typed.rest) : [];
      typed.rest = Buffer.alloc(0);
      const ready = queued.find((e) => e.kind === 'line' || e.kind === 'eof');
      for (const e of queued) channel.write(e.output);
      if (ready?.kind === 'line') {
        line = ready.line;
        typed.rest = ready.rest;
      } else if (!ready) {
        line = await nextLine(channel, editor, typed);
      }
      if (line === null) return finish(channel, 0, 'Bye.\r\n');
      if (line === '') {
        channel.write(PROMPT);
        continue;
      }
      const choice = readChoice(line, entries.length);
      if (choice.kind === 'quit') return finish(channel, 0, 'Bye.\r\n');
      if (choice.kind === 'bad') {
        channel.write(`${choice.message}${PROMPT}`);
        continue;
      }
      const entry = await stillAllowed(pool, user, entries[choice.index]!.instanceId);
      if (entry?.observed !== 'running') {
        const state = entry ? entry.observed : 'gone';
        channel.write(
          `${entries[choice.index]!.name} is ${state}, not running: start it first (tianqi instance start ${entries[choice.index]!.name}).\r\n${PROMPT}`,
        );
        continue;
      }
      return this.#open(channel, context, entry, terminal, typed.rest);
    }
  }

  /** A shell with a TTY in the instance's container, sized and resized as the client's terminal. */
  async #open(
    channel: Channel,
    context: SessionContext,
    target: MenuEntry,
    terminal: TerminalHooks,
    typedAhead: Buffer = Buffer.alloc(0),
  ): Promise<void> {
    const row = await getInstance(this.services.pool, target.instanceId);
    if (row?.observed !== 'running') {
      return finish(
        channel,
        1,
        `${target.name} is ${row?.observed ?? 'gone'}, not running: start it first.\r\n`,
      );
    }
    let docker: Docker;
    let containerId: string;
    try {
      ({ docker, containerId } = await containerOf(this.services, row));
    } catch (err) {
      return finish(channel, 1, `${(err as Error).message}\r\n`);
    }
    const size = terminal.pty() ?? { cols: 80, rows: 24, term: 'xterm' };
    const startedAt = new Date();
    const shell = await openShell(docker, containerId, { cols: size.cols, rows: size.rows, term: size.term });
    const recorder = new Recorder(size);
    terminal.onResize((cols, rows) => {
      recorder.resize(cols, rows);
      void shell.resize(cols, rows).catch(() => {});
    });
    shell.onOutput((bytes) => {
      context.touch();
      recorder.output(bytes);
      if (!channel.write(bytes)) {
        shell.stream.pause();
        channel.once('drain', () => shell.stream.resume());
      }
    });
    // Typed while the menu or the shell's start was still in the way: the shell reads it first.
    const early: Buffer[] = typedAhead.length > 0 ? [typedAhead] : [];
    channel.on('data', (data: Buffer) => {
      recorder.input(data);
      if (shell.stream.writable) shell.stream.write(data);
    });
    for (const bytes of early) {
      recorder.input(bytes);
      shell.stream.write(bytes);
    }
    channel.resume();
    const closed = Promise.race([
      new Promise<void>((resolve) => channel.once('close', () => resolve())),
      context.gone,
    ]);
    const ended = await Promise.race([
      shell.exited.then((code) => ({ by: 'shell' as const, code })),
      closed.then(() => ({ by: 'client' as const, code: null })),
    ]);
    if (ended.by === 'shell') finish(channel, ended.code ?? 0);
    else await shell.hangUp();
    await recordSshSession(this.services, context, {
      instanceId: row.instanceId,
      startedAt,
      recorder,
      command: null,
      exitCode: ended.code,
    });
  }

  /**
   * One command in the instance named by the login (`user+inst`), its stdin, stdout and stderr kept
   * apart (no TTY unless the client asked for one) and its exit code passed back: what scp and rsync need.
   */
  async #command(
    channel: Channel,
    context: SessionContext,
    command: string,
    terminal: TerminalHooks,
  ): Promise<void> {
    const { user, login, touch } = context;
    const pty = terminal.pty();
    if (!login.instance) {
      return finishErr(
        channel,
        2,
        "Name the instance to run a command in: ssh -p PORT user+instance@host 'command'\n",
      );
    }
    const target = await routeTarget(this.services.pool, user, login.instance);
    const row = target ? await getInstance(this.services.pool, target.instanceId) : null;
    if (!row) return finishErr(channel, 1, `No instance ${login.instance.name} of yours.\n`);
    if (row.observed !== 'running')
      return finishErr(channel, 1, `${row.name} is ${row.observed}, not running.\n`);
    let docker: Docker;
    let containerId: string;
    try {
      ({ docker, containerId } = await containerOf(this.services, row));
    } catch (err) {
      return finishErr(channel, 1, `${(err as Error).message}\n`);
    }
    const startedAt = new Date();
    const size = pty ? { cols: pty.cols, rows: pty.rows } : undefined;
    const { exec, stream } = await startExec(docker, containerId, {
      cmd: shellCommand(command, size),
      tty: pty !== null,
      env: pty ? [`TERM=${pty.term}`] : [],
      ...(size ? { size } : {}),
    });
    stream.on('error', () => {});
    // With a TTY it is an interactive session (`ssh -t host vim`): recorded as a shell is. Without one
    // (scp, rsync, a script's output), the bytes are data, and only the command line is kept.
    const recorder = pty ? new Recorder(pty) : null;
    // The PID announcement comes first on stderr (the TTY's output with a TTY) and is taken off it.
    const announcement = new PidAnnouncement();
    if (size) {
      const resize = followSize(exec, announcement, size);
      terminal.onResize((cols, rows) => {
        recorder?.resize(cols, rows);
        void resize(cols, rows).catch(() => {});
      });
    }
    const clientGone = Promise.race([
      new Promise<void>((resolve) => {
        if (channel.destroyed) resolve();
        channel.once('close', () => resolve());
      }),
      context.gone,
    ]).then(() => 'gone' as const);
    if (recorder) channel.on('data', (data: Buffer) => recorder.input(data));
    // Input at the client's pace; without a TTY its end (EOF) closes the command's stdin. A TTY has
    // no half-close (as under sshd): Docker would end the whole exec, output not yet read included.
    channel.pipe(stream, { end: pty === null });
    let output: Promise<unknown>;
    if (pty) {
      stream.on('data', (chunk: Buffer) => {
        const bytes = announcement.take(chunk);
        recorder?.output(bytes);
        if (bytes.length > 0 && !channel.write(bytes)) {
          stream.pause();
          channel.once('drain', () => stream.resume());
        }
      });
      output = new Promise<void>((resolve) => {
        stream.once('end', resolve);
        stream.once('close', resolve);
      });
    } else {
      const stderr = withoutAnnouncement(channel.stderr, announcement);
      // Done when stderr has gone out too: it may still be waiting for the client's window, and
      // ending the channel first would cut its tail off.
      output = demultiplex(stream, channel, stderr)
        .then(() => finished(stderr.end()))
        .then(() => finished(channel.stderr.end()));
    }
    // Output counts as activity: a command that only shows (a followed log) is not idle. (Added once
    // the output has its reader: a 'data' listener starts the flow.)
    stream.on('data', touch);
    let exitCode: number | null = null;
    if ((await Promise.race([output, clientGone])) === 'gone') {
      // The client went (closed, killed, signed out): Docker would let the command run on unseen.
      channel.unpipe(stream);
      await hangUp(docker, containerId, exec, announcement);
      stream.destroy();
    } else {
      exitCode = (await exec.inspect()).ExitCode ?? null;
      finish(channel, exitCode ?? 255);
    }
    await recordSshSession(this.services, context, {
      instanceId: row.instanceId,
      startedAt,
      recorder,
      command: redactCommand(command).slice(0, 4096),
      exitCode,
    });
  }
}

/** `stderr` with the PID announcement taken off the front, its pace passed on. */
function withoutAnnouncement(stderr: Writable, announcement: PidAnnouncement): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      const bytes = announcement.take(chunk);
      if (bytes.length === 0 || stderr.write(bytes)) done();
      else stderr.once('drain', () => done());
    },
  });
}

/**
 * The next line typed at the menu, or null when the client is done (EOF, ^D, closed). What was typed
 * after it (a pasted or piped script) is kept in `typed` for the shell.
 */
function nextLine(channel: Channel, editor: LineEditor, typed: { rest: Buffer }): Promise<string | null> {
  return new Promise((resolve) => {
    const onData = (data: Buffer) => {
      for (const event of editor.feed(data)) {
        channel.write(event.output);
        if (event.kind === 'line') {
          typed.rest = event.rest;
          return done(event.line);
        }
        if (event.kind === 'eof') return done(null);
        if (event.kind === 'cancel') channel.write(PROMPT);
      }
    };
    const onEnd = () => done(null);
    const done = (line: string | null) => {
      channel.pause();
      channel.off('data', onData);
      channel.off('end', onEnd);
      channel.off('close', onEnd);
      resolve(line);
    };
    channel.on('data', onData);
    channel.once('end', onEnd);
    channel.once('close', onEnd);
    channel.resume();
  });
}
