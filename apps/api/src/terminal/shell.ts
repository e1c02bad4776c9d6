import type { Duplex } from 'node:stream';
import type Docker from 'dockerode';
import { startExec } from '../docker/exec.js';
import { ANNOUNCE_PID, hangUp, PidAnnouncement } from '../docker/exec-pid.js';

/**
 * A `/bin/sh -c` script that goes on in bash, with `args`, when the container has bash on its PATH,
 * and in sh otherwise: decided inside the container as the exec starts, with no request to Docker
 * before it.
 */
const bashElseSh = (args: string) =>
  `if command -v bash >/dev/null 2>&1; then exec bash ${args}; fi; exec sh ${args}`;

/**
 * Shell code that gives the session a UTF-8 locale when the container's environment names none.
 * Without one, bash's readline takes the bytes of typed CJK text for Meta keys and vim edits bytes, not
 * characters. `C.UTF-8` is in Debian's and Ubuntu's libc (musl is UTF-8 anyway); where it is missing,
 * bash quietly stays in C. A locale the image or the user's profile sets still wins.
 */
const UTF8_UNLESS_SET = '[ -n "$LC_ALL$LC_CTYPE$LANG" ] || export LANG=C.UTF-8; ';

export interface TtySize {
  cols: number;
  rows: number;
}

/**
 * Shell code that gives the TTY its size before anything else runs. Docker before API 1.42 (Debian's
 * 20.10 among them) ignores the size an exec is created with, and a resize can only be sent once the
 * exec runs, after its first instructions: a program would start at 0×0.
 */
function sizeTty(size: TtySize | undefined): string {
  if (!size) return '';
  const n = (v: number) => Math.max(1, Math.min(10_000, Math.floor(v)));
  return `stty rows ${n(size.rows)} cols ${n(size.cols)} 2>/dev/null; `;
}

/**
 * The argv that runs one command line in the container's bash, or sh without bash, after announcing
 * its PID (see `PidAnnouncement`), in UTF-8 unless the container says otherwise; with a TTY's `size`,
 * sized before it starts.
 */
export function shellCommand(command: string, size?: TtySize): string[] {
  return [
    '/bin/sh',
    '-c',
    `${sizeTty(size)}${UTF8_UNLESS_SET}${ANNOUNCE_PID}; ${bashElseSh('-c "$1"')}`,
    'sh',
    command,
  ];
}

/**
 * Sizes an exec's TTY as last asked for once its start-up script has run (the announcement follows
 * `stty`): a window change that came while it started would otherwise be undone by `stty`.
 */
export function followSize(exec: Docker.Exec, announcement: PidAnnouncement, initial: TtySize) {
  let size = initial;
  // One resize at a time: two sent at once may reach the TTY in either order, and the start-up one
  // (the old size) could land after the client's and undo it.
  let last: Promise<unknown> = Promise.resolve();
  void announcement.settled.then(() => {
    last = last.then(() => exec.resize({ h: size.rows, w: size.cols })).catch(() => {});
  });
  return (cols: number, rows: number): Promise<void> => {
    size = { cols, rows };
    const resized = last.then(() => exec.resize({ h: rows, w: cols }));
    last = resized.catch(() => {});
    return resized;
  };
}

export interface ShellSession {
  /** Raw TTY bytes both ways. */
  stream: Duplex;
  resize(cols: number, rows: number): Promise<void>;
  /** Output with the start-up marker line taken out. */
  onOutput(listener: (bytes: Buffer) => void): void;
  /** Resolves with the shell's exit code once it has ended. */
  exited: Promise<number | null>;
  /** Ends the shell (SIGHUP, as a terminal closing would) if it still runs. */
  hangUp(): Promise<void>;
}

/**
 * Starts an interactive shell with a TTY in a container (`docker exec -it`). The shell first prints its
 * PID in the container, which is taken out of the output and kept: Docker does not end an exec when
 * its client goes away, so closing a terminal hangs the shell up through a second exec.
 */
export async function openShell(
  docker: Docker,
  containerId: string,
  options: { cols: number; rows: number; term?: string; env?: string[] },
): Promise<ShellSession> {
  const size = { cols: options.cols, rows: options.rows };
  const { exec, stream } = await startExec(docker, containerId, {
    cmd: ['/bin/sh', '-c', `${sizeTty(size)}${UTF8_UNLESS_SET}${ANNOUNCE_PID}; ${bashElseSh('-l')}`],
    tty: true,
    env: [`TERM=${options.term ?? 'xterm-256color'}`, ...(options.env ?? [])],
    size,
  });
  const announcement = new PidAnnouncement();
  const resize = followSize(exec, announcement, size);
  const listeners: ((bytes: Buffer) => void)[] = [];
  // Output that comes before anyone listens is kept for the first listener.
  const backlog: Buffer[] = [];
  const emit = (bytes: Buffer) => {
    if (listeners.length === 0) backlog.push(bytes);
    for (const l of listeners) l(bytes);
  };
  stream.on('data', (chunk: Buffer) => {
    const bytes = announcement.take(chunk);
    if (bytes.length > 0) emit(bytes);
  });
  const exited = new Promise<number | null>((resolve) => {
    const done = () =>
      exec.inspect().then(
        (i) => resolve(i.Running ? null : (i.ExitCode ?? null)),
        () => resolve(null),
      );
    stream.once('end', done);
    stream.once('close', done);
    // The hijacked socket has no error listener of its own any more: a reset (a daemon restart, a
    // write after the shell ended) would otherwise be an uncaught error that ends the whole process.
    stream.on('error', done);
  });
  const session: ShellSession = {
    stream,
    onOutput: (listener) => {
      listeners.push(listener);
      for (const bytes of backlog.splice(0)) listener(bytes);
    },
    resize,
    exited,
    hangUp: async () => {
      await hangUp(docker, containerId, exec, announcement);
      stream.destroy();
    },
  };
  return session;
}
