import { execFile } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { chown, mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { userInfo } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ThrowawayPostgres {
  /** Superuser URL to the `postgres` database. */
  readonly url: string;
  readonly port: number;
  readonly directory: string;
  /** A fast restart: every connection is cut, the data stays. */
  restart(): Promise<void>;
  /** Stopped (every session cut), connections refused for `ms`, then started again, the data kept. */
  outage(ms: number): Promise<void>;
  stop(): Promise<void>;
}

/** The newest Debian PostgreSQL server binaries, or TIANQI_PG_BIN. */
export function postgresBinDir(): string {
  const fromEnv = process.env.TIANQI_PG_BIN;
  if (fromEnv) return fromEnv;
  const base = '/usr/lib/postgresql';
  const versions = existsSync(base)
    ? readdirSync(base)
        .filter((v) => existsSync(join(base, v, 'bin', 'initdb')))
        .sort((a, b) => Number(b) - Number(a))
    : [];
  if (versions.length === 0) {
    throw new Error(
      'PostgreSQL server binaries not found: install them with `apt-get install -y postgresql`',
    );
  }
  return join(base, versions[0]!, 'bin');
}

export function freePort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, host, () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

/**
 * Starts a private PostgreSQL cluster in a new temporary folder on a free loopback port, with the
 * stock configuration (durable commits). PostgreSQL refuses to run as root, so as root the cluster
 * runs as the `postgres` user.
 */
export async function startThrowawayPostgres(
  options: { settings?: Record<string, string> } = {},
): Promise<ThrowawayPostgres> {
  const bin = postgresBinDir();
  const asRoot = userInfo().uid === 0;
  const directory = await mkdtemp('/tmp/tianqi-pg-');
  const data = join(directory, 'data');
  if (asRoot) {
    const { stdout } = await run('id', ['-u', 'postgres']);
    const { stdout: gid } = await run('id', ['-g', 'postgres']);
    await chown(directory, Number(stdout.trim()), Number(gid.trim()));
  }
  const pg = (tool: string, args: string[]) =>
    asRoot ? run('runuser', ['-u', 'postgres', '--', join(bin, tool), ...args]) : run(join(bin, tool), args);
  await pg('initdb', ['-D', data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8', '--no-sync', '--locale=C']);
  const port = await freePort();
  const settings = { max_connections: '300', ...options.settings };
  const serverOptions = [
    `-p ${port}`,
    `-k ${directory}`,
    '-c listen_addresses=127.0.0.1',
    ...Object.entries(settings).map(([k, v]) => `-c ${k}=${v}`),
  ].join(' ');
  const ctl = (action: string) =>
    pg('pg_ctl', [
      '-D',
      data,
      '-o',
      serverOptions,
      '-l',
      join(directory, 'server.log'),
      '-w',
      '-m',
      'fast',
      action,
    ]);
  await ctl('start');
  let stopped = false;
  return {
    url: `postgres://postgres@127.0.0.1:${port}/postgres`,
    port,
    directory,
    restart: async () => {
      await ctl('restart');
    },
    outage: async (ms) => {
      await ctl('stop');
      await new Promise((resolve) => setTimeout(resolve, ms));
      await ctl('start');
    },
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await ctl('stop').catch(() => {});
      await rm(directory, { recursive: true, force: true });
    },
  };
}
