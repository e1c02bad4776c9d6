import { Writable } from 'node:stream';
import { finished } from 'node:stream/promises';
import { getInstance } from '@tianqi/projections';
import type Docker from 'dockerode';
import { containerOf } from '../access/instance-access.js';
import type { Services } from '../access/services.js';
import { startExec } from '../docker/exec.js';
import { hangUp, PidAnnouncement } from '../docker/exec-pid.js';
import { Recorder } from '../terminal/recording.js';
import { followSize, shellCommand } from '../terminal/shell.js';
import { demultiplex } from './frames.js';
import { redactCommand } from './redact.js';
import {
  type Channel,
  finish,
  finishErr,
  recordSshSession,
  type SessionContext,
  type TerminalHooks,
} from './session.js';
import { routeTarget } from './targets.js';

/**
 * One command in the instance named by the login (`user+inst`), its stdin, stdout and stderr kept
 * apart (no TTY unless the client asked for one) and its exit code passed back: what scp and rsync need.
 */
export async function commandSession(
  services: Services,
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
  const target = await routeTarget(services.pool, user, login.instance);
  const row = target ? await getInstance(services.pool, target.instanceId) : null;
  if (!row) return finishErr(channel, 1, `No instance ${login.instance.name} of yours.\n`);
  if (row.observed !== 'running')
    return finishErr(channel, 1, `${row.name} is ${row.observed}, not running.\n`);
  let docker: Docker;
  let containerId: string;
  try {
    ({ docker, containerId } = await containerOf(services, row));
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
  await recordSshSession(services, context, {
    instanceId: row.instanceId,
    startedAt,
    recorder,
    command: redactCommand(command).slice(0, 4096),
    exitCode,
  });
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
