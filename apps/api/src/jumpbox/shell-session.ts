import { getInstance } from '@tianqi/projections';
import type Docker from 'dockerode';
import { containerOf } from '../access/instance-access.js';
import type { Services } from '../access/services.js';
import { Recorder } from '../terminal/recording.js';
import { openShell } from '../terminal/shell.js';
import type { MenuEntry } from './menu.js';
import {
  type Channel,
  finish,
  recordSshSession,
  type SessionContext,
  type TerminalHooks,
} from './session.js';

/** A shell with a TTY in the instance's container, sized and resized as the client's terminal. */
export async function shellSession(
  services: Services,
  channel: Channel,
  context: SessionContext,
  target: MenuEntry,
  terminal: TerminalHooks,
  typedAhead: Buffer = Buffer.alloc(0),
): Promise<void> {
  const row = await getInstance(services.pool, target.instanceId);
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
    ({ docker, containerId } = await containerOf(services, row));
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
  await recordSshSession(services, context, {
    instanceId: row.instanceId,
    startedAt,
    recorder,
    command: null,
    exitCode: ended.code,
  });
}
