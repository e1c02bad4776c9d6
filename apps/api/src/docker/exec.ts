import type { Socket } from 'node:net';
import { type Duplex, PassThrough } from 'node:stream';
import type Docker from 'dockerode';

export interface StartedExec {
  exec: Docker.Exec;
  /** The hijacked connection: stdin one way; the output the other (multiplexed without a TTY). */
  stream: Duplex;
}

/** Starts a command in a container with stdin, stdout and stderr attached, for a session to drive. */
export async function startExec(
  docker: Docker,
  containerId: string,
  options: { cmd: string[]; tty: boolean; env?: string[]; size?: { cols: number; rows: number } },
): Promise<StartedExec> {
  const exec = await docker.getContainer(containerId).exec({
    Cmd: options.cmd,
    AttachStdin: true,
    AttachStdout: true,
    AttachStderr: true,
    Tty: options.tty,
    Env: options.env ?? [],
    ...(options.size ? { ConsoleSize: [options.size.rows, options.size.cols] } : {}),
  } as Docker.ExecCreateOptions);
  const stream = (await exec.start({
    hijack: true,
    stdin: true,
    Tty: options.tty,
  } as Docker.ExecStartOptions)) as Duplex;
  // Keystrokes are tiny writes: with Nagle's algorithm one would wait for the last one's ACK.
  (stream as Partial<Socket>).setNoDelay?.(true);
  return { exec, stream };
}

export interface ExecResult {
  exitCode: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command in a container without a TTY and collects stdout and stderr apart (demultiplexed). */
export async function execCapture(
  docker: Docker,
  containerId: string,
  cmd: string[],
  timeoutMs = 10_000,
  maxBytes = 64 * 1024,
): Promise<ExecResult> {
  const exec = await docker
    .getContainer(containerId)
    .exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true });
  const stream = await exec.start({ hijack: true, stdin: false });
  const out = new PassThrough();
  const err = new PassThrough();
  let stdout = '';
  let stderr = '';
  // What runs in a container is the user's: its output is capped, never held whole.
  const keep = (text: string, d: Buffer) =>
    text.length < maxBytes ? (text + d.toString('utf8')).slice(0, maxBytes) : text;
  out.on('data', (d: Buffer) => {
    stdout = keep(stdout, d);
  });
  err.on('data', (d: Buffer) => {
    stderr = keep(stderr, d);
  });
  docker.modem.demuxStream(stream, out, err);
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => {
      stream.destroy();
      reject(new Error(`${cmd[0]} did not finish in ${timeoutMs} ms`));
    }, timeoutMs);
    stream.on('end', () => {
      clearTimeout(timer);
      resolve();
    });
    stream.on('error', reject);
  });
  const { ExitCode } = await exec.inspect();
  return { exitCode: ExitCode ?? null, stdout, stderr };
}
