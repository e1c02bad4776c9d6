import type { TRPCClientError } from '@trpc/client';
import { bool, type Call, CliError, type CommandDef, number } from './command.js';
import { bytes, emit, printJson, table, visible, when } from './output.js';
import { findInstance, type Outputs } from './resolve.js';
import { openTerminal } from './terminal.js';

type LogLine = Outputs['instances']['logs']['lines'][number];
type Sample = NonNullable<Outputs['instances']['stats']['latest']>;
type Limits = Outputs['instances']['stats']['limits'];

function printLine(call: Call, line: LogLine, timestamps: boolean): void {
  if (call.json) {
    process.stdout.write(`${JSON.stringify(line)}\n`);
    return;
  }
  const text = `${timestamps && line.time ? `${line.time} ` : ''}${visible(line.text, true)}\n`;
  (line.stream === 'stderr' ? process.stderr : process.stdout).write(text);
}

/**
 * Runs a subscription until the server ends it (0), it fails (the error), or Ctrl-C / SIGTERM (0).
 * While the link reconnects after a lost connection, the reason is shown once per outage.
 */
interface Handlers {
  onError: (err: TRPCClientError<never>) => void;
  onComplete: () => void;
  onConnectionStateChange: (state: { state: string; error: unknown }) => void;
}

function until(subscribe: (handlers: Handlers) => { unsubscribe(): void }): Promise<number> {
  return new Promise((resolve, reject) => {
    let warned = false;
    const stop = () => {
      sub.unsubscribe();
      resolve(0);
    };
    const sub = subscribe({
      onError: (err) => {
        cleanup();
        reject(err);
      },
      onComplete: () => {
        cleanup();
        resolve(0);
      },
      onConnectionStateChange: (s) => {
        if (s.state === 'connecting' && s.error && !warned) {
          warned = true;
          process.stderr.write(`tianqi: reconnecting (${(s.error as Error).message})\n`);
        } else if (s.state === 'pending') warned = false;
      },
    });
    const cleanup = () => {
      process.off('SIGINT', stop);
      process.off('SIGTERM', stop);
    };
    process.once('SIGINT', stop);
    process.once('SIGTERM', stop);
  });
}

/** `1.1 GB / 1 GB (110%)`: a disk figure against the spec's size (none: the figure alone). */
function disk(used: number | null, limit: number | null | undefined): string | null {
  if (used === null) return null;
  if (!limit) return bytes(used);
  return `${bytes(used)} / ${bytes(limit)} (${((used / limit) * 100).toFixed(0)}%)`;
}

function sampleRow(s: Sample, limits?: Limits): (string | null)[] {
  return [
    when(new Date(s.at)),
    s.cpuPercent === null ? null : `${s.cpuPercent.toFixed(1)}%`,
    `${bytes(s.memoryUsedBytes)} / ${bytes(s.memoryLimitBytes)} (${s.memoryPercent.toFixed(1)}%)`,
    `${bytes(s.networkRxBytes)} / ${bytes(s.networkTxBytes)}`,
    `${bytes(s.blockReadBytes)} / ${bytes(s.blockWriteBytes)}`,
    String(s.pids),
    s.gpuMemoryUsedMb === null ? null : `${s.gpuMemoryUsedMb} / ${s.gpuMemoryTotalMb} MB`,
    disk(s.dataDiskUsedBytes, limits?.dataDiskBytes),
    disk(s.systemDiskUsedBytes, limits?.systemDiskBytes),
  ];
}
const SAMPLE_HEADERS = [
  'TIME',
  'CPU',
  'MEMORY',
  'NET RX/TX',
  'BLOCK R/W',
  'PIDS',
  'GPU MEMORY',
  'DATA DISK',
  'SYSTEM DISK',
];
/** Fixed widths for --watch, whose rows are printed one at a time (no table to measure). */
const WATCH_WIDTHS = [19, 7, 32, 24, 24, 5, 16, 24, 0];
const watchRow = (cells: (string | null)[]) =>
  cells
    .map((c, i) => (c ?? '-').padEnd(WATCH_WIDTHS[i] ?? 0))
    .join('  ')
    .trimEnd();

/** What runs in an instance: its output, its resource figures, a shell. */
export const instanceStreamCommands: CommandDef[] = [
  {
    usage: 'instance logs NAME|ID [--tail N] [--timestamps] [-f]',
    summary: 'the container’s output (last 200 lines); -f follows it until Ctrl-C or the container stops',
    args: [1, 1],
    options: {
      tail: { type: 'string', short: 'n' },
      timestamps: { type: 'boolean', short: 't' },
      follow: { type: 'boolean', short: 'f' },
    },
    async run(call) {
      const api = call.api();
      const { instanceId } = await findInstance(api, call.args[0]!);
      const timestamps = bool(call, 'timestamps');
      if (bool(call, 'follow')) {
        // --json while following: one JSON object per line, as lines arrive.
        const tail = number(call, 'tail', { int: true, min: 0 }) ?? 100;
        return until((handlers) =>
          api.instances.followLogs.subscribe(
            { instanceId, tail },
            { ...handlers, onData: (event) => printLine(call, event.data, timestamps) },
          ),
        );
      }
      const tail = number(call, 'tail', { int: true, min: 1 }) ?? 200;
      const { lines } = await api.instances.logs.query({ instanceId, tail, timestamps });
      if (call.json) printJson({ lines });
      else for (const line of lines) printLine(call, line, timestamps);
      return 0;
    },
  },
  {
    usage: 'instance stats NAME|ID [--watch]',
    summary: 'the latest resource sample and the last hour’s; --watch prints a fresh one every 5 s',
    args: [1, 1],
    options: { watch: { type: 'boolean', short: 'w' } },
    async run(call) {
      const api = call.api();
      const { instanceId, name } = await findInstance(api, call.args[0]!);
      if (bool(call, 'watch')) {
        const { limits } = await api.instances.stats.query({ instanceId });
        if (!call.json) process.stdout.write(`${watchRow(SAMPLE_HEADERS)}\n`);
        return until((handlers) =>
          api.instances.liveStats.subscribe(
            { instanceId },
            {
              ...handlers,
              onData: (event) => {
                const text = call.json ? JSON.stringify(event.data) : watchRow(sampleRow(event.data, limits));
                process.stdout.write(`${text}\n`);
              },
            },
          ),
        );
      }
      const stats = await api.instances.stats.query({ instanceId });
      emit(call, stats, (s) =>
        s.latest
          ? table(SAMPLE_HEADERS, [sampleRow(s.latest, s.limits)])
          : `no sample of ${name} yet (one is taken at each sync; try --watch)`,
      );
      return 0;
    },
  },
  {
    usage: 'instance shell NAME|ID',
    summary: 'a shell in the container; piped stdin is run and the shell’s exit code returned',
    args: [1, 1],
    async run(call) {
      const api = call.api();
      const instance = await findInstance(api, call.args[0]!);
      if (instance.observed !== 'running') {
        throw new CliError(`instance ${instance.name} is not running (it is ${instance.observed})`);
      }
      return openTerminal(call.server, call.token!, instance.instanceId);
    },
  },
];
