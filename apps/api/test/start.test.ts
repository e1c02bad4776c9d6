import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { chmod, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, freePort, loadTestNodes, startThrowawayPostgres } from '@tianqi/infra';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

// `tianqi start` as the README runs it: the CLI (apps/cli) hands the server's commands to the server.
const BIN = fileURLToPath(new URL('../../cli/bin/tianqi.js', import.meta.url));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startTianqi(env: Record<string, string>, args: string[] = ['start']): Started {
  // Several servers start at once across the test files: none of them takes the jumpbox's port.
  const childEnv: NodeJS.ProcessEnv = {
    ...process.env,
    TIANQI_LOG_LEVEL: 'warn',
    TIANQI_JUMPBOX_ENABLED: 'false',
    ...env,
  };
  if (!('DATABASE_URL' in env)) delete childEnv.DATABASE_URL;
  const child = spawn(process.execPath, [BIN, ...args], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (out += d));
  const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
  return { child, output: () => out, exited };
}

async function waitForHealth(port: number, started: Started): Promise<unknown> {
  for (let i = 0; i < 300; i++) {
    if (started.child.exitCode !== null) throw new Error(`tianqi exited early:\n${started.output()}`);
    try {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      if (res.ok) return res.json();
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`tianqi did not answer /healthz:\n${started.output()}`);
}

/** The server prints its lines once it has finished starting, which is a moment after /healthz answers. */
async function waitForOutput(started: Started, text: string): Promise<string> {
  for (let i = 0; i < 100 && !started.output().includes(text); i++)
    await new Promise((r) => setTimeout(r, 100));
  return started.output();
}

describe('`tianqi start`', () => {
  it('with no DATABASE_URL starts an embedded PostgreSQL, migrates it, answers /healthz, and keeps its data', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tianqi-data-'));
    await chmod(dataDir, 0o755); // as root, the embedded server runs as `postgres` and must reach it
    const port = await freePort();
    const env = {
      PORT: String(port),
      TIANQI_DATA_DIR: dataDir,
      TIANQI_DATABASE_EMBEDDED_PORT: String(await freePort()),
      TIANQI_ADMIN_USERNAME: 'root',
      TIANQI_ADMIN_PASSWORD: 'first-admin-password',
    };
    try {
      const first = startTianqi(env);
      expect(await waitForHealth(port, first)).toEqual({ status: 'ok' });
      expect(await waitForOutput(first, 'Tianqi is running at')).toContain(
        `Tianqi is running at http://localhost:${port}`,
      );
      // And it says how to get in.
      expect(await waitForOutput(first, 'Sign in')).toContain(
        `Sign in at http://localhost:${port} as root (admin.username), or with the CLI: tianqi login --server http://localhost:${port}`,
      );
      expect(await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()).toEqual({ status: 'ready' });

      const creds = JSON.parse(await readFile(join(dataDir, 'postgres-credentials.json'), 'utf8'));
      const url = `postgres://${creds.user}:${encodeURIComponent(creds.password)}@127.0.0.1:${env.TIANQI_DATABASE_EMBEDDED_PORT}/postgres`;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query(
        'SELECT component, version FROM schema_migrations ORDER BY component, version',
      );
      expect(rows).toEqual([
        { component: 'api', version: 1 },
        { component: 'api', version: 2 },
        { component: 'api', version: 3 },
        { component: 'api', version: 4 },
        { component: 'api', version: 5 },
        { component: 'events', version: 1 },
        { component: 'events', version: 2 },
        { component: 'events', version: 3 },
        { component: 'events', version: 4 },
        { component: 'projections', version: 1 },
        { component: 'projections', version: 2 },
      ]);
      // The configured first admin was created, and the users read model has them.
      const users = await client.query('SELECT username, role FROM rm.users');
      expect(users.rows).toEqual([{ username: 'root', role: 'admin' }]);
      await client.end();

      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);

      const second = startTianqi(env);
      await waitForHealth(port, second);
      const again = new pg.Client({ connectionString: url });
      await again.connect();
      // Kept across the restart, and not created twice.
      const kept = await again.query(`SELECT count(*)::int AS n FROM events WHERE type = 'UserRegistered'`);
      await again.end();
      expect(kept.rows[0].n).toBe(1);
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('with no admin prints a setup code and writes it into data-dir; `tianqi admin create`, `migrate` and `rebuild-projections` use its running embedded PostgreSQL; then the code is gone', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tianqi-data-'));
    await chmod(dataDir, 0o755);
    const port = await freePort();
    const pgPort = await freePort();
    const env = {
      PORT: String(port),
      TIANQI_DATA_DIR: dataDir,
      TIANQI_DATABASE_EMBEDDED_PORT: String(pgPort),
    };
    const status = async () =>
      (
        (await (await fetch(`http://127.0.0.1:${port}/api/trpc/auth.setupStatus`)).json()) as {
          result: { data: { needsSetup: boolean } };
        }
      ).result.data.needsSetup;
    try {
      const server = startTianqi(env);
      await waitForHealth(port, server);
      await waitForOutput(server, 'No admin yet');
      const file = join(dataDir, 'setup-code');
      const code = (await readFile(file, 'utf8')).trim();
      expect(code).toMatch(/^[0-9A-Z]{4}(-[0-9A-Z]{4}){3}$/);
      expect((await stat(file)).mode & 0o777).toBe(0o600);
      expect(server.output()).toContain(
        `No admin yet: open http://localhost:${port} and make the first one with the setup code ${code} (also in ${file}, readable by you alone), or run \`tianqi admin create --username NAME\` (this server may keep running)`,
      );
      expect(await status()).toBe(true);

      // A second server on the same data-dir is told why it cannot start, not blamed on the port.
      const twice = startTianqi({ ...env, PORT: String(await freePort()) });
      expect(await twice.exited).toBe(1);
      expect(twice.output()).toMatch(
        new RegExp(
          `already running \\(pid \\d+, port ${pgPort}\\): another \`tianqi start\` uses this data-dir`,
        ),
      );
      expect(twice.output()).not.toMatch(/\n\s+at /);

      const withPassword = { ...env, TIANQI_ADMIN_PASSWORD: 'cli-admin-password' };
      const create = startTianqi(withPassword, ['admin', 'create', '--username', 'ops']);
      expect(await create.exited).toBe(0);
      expect(create.output()).toMatch(/admin ops created/);
      const migrate = startTianqi(env, ['migrate']);
      expect(await migrate.exited).toBe(0);
      expect(migrate.output()).toMatch(/the database is up to date/);
      const rebuild = startTianqi(env, ['rebuild-projections', 'users']);
      expect(await rebuild.exited).toBe(0);
      expect(rebuild.output()).toMatch(/rebuilt users from \d+ events/);

      // The running server heard of the admin: its code and file are gone, and the new admin signs in.
      for (let i = 0; i < 100 && existsSync(file); i++) await new Promise((r) => setTimeout(r, 100));
      expect(existsSync(file)).toBe(false);
      expect(await status()).toBe(false);
      const login = await fetch(`http://127.0.0.1:${port}/api/trpc/auth.login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ username: 'ops', password: 'cli-admin-password', via: 'cli' }),
      });
      expect(login.status).toBe(200);
      server.child.kill('SIGTERM');
      expect(await server.exited).toBe(0);

      // With the server stopped, the commands start the embedded PostgreSQL themselves, as before.
      const alone = startTianqi(env, ['migrate']);
      expect(await alone.exited).toBe(0);
      const restarted = startTianqi(env);
      await waitForHealth(port, restarted);
      await waitForOutput(restarted, 'Sign in at');
      expect(restarted.output()).toContain(`Sign in at http://localhost:${port}, or with the CLI`);
      expect(existsSync(file)).toBe(false);
      restarted.child.kill('SIGTERM');
      expect(await restarted.exited).toBe(0);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('with DATABASE_URL uses that server and starts no embedded one', async () => {
    const db = await createTestDatabase();
    const dataDir = await mkdtemp(join(tmpdir(), 'tianqi-data-'));
    const port = await freePort();
    try {
      const started = startTianqi({ PORT: String(port), DATABASE_URL: db.url, TIANQI_DATA_DIR: dataDir });
      await waitForHealth(port, started);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const { rows } = await client.query('SELECT count(*)::int AS n FROM schema_migrations');
      await client.end();
      expect(rows[0].n).toBe(11);
      started.child.kill('SIGTERM');
      expect(await started.exited).toBe(0);
      expect((await import('node:fs')).existsSync(join(dataDir, 'postgres'))).toBe(false);
    } finally {
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('`tianqi admin create` makes an admin once; `tianqi rebuild-projections` rebuilds with progress', async () => {
    const db = await createTestDatabase();
    const env = {
      DATABASE_URL: db.url,
      TIANQI_ADMIN_PASSWORD: 'cli-admin-password',
      TIANQI_DATA_DIR: await mkdtemp(join(tmpdir(), 'tianqi-data-')),
    };
    try {
      const create = startTianqi(env, ['admin', 'create', '--username', 'ops']);
      expect(await create.exited).toBe(0);
      expect(create.output()).toMatch(/admin ops created/);
      const again = startTianqi(env, ['admin', 'create', '--username', 'ops']);
      expect(await again.exited).toBe(1);
      expect(again.output()).toMatch(/the username "ops" is already taken/);
      const weak = startTianqi({ ...env, TIANQI_ADMIN_PASSWORD: 'short' }, [
        'admin',
        'create',
        '--username',
        'ops2',
      ]);
      expect(await weak.exited).toBe(1);
      expect(weak.output()).toMatch(/password: a password is at least 8 characters/);

      const rebuild = startTianqi(env, ['rebuild-projections']);
      expect(await rebuild.exited).toBe(0);
      expect(rebuild.output()).toMatch(/rebuilding: 100%/);
      expect(rebuild.output()).toMatch(
        /rebuilt users, images, specs, nodes, instances, audit_log, usage, drift from 2 events/,
      );
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      const { rows } = await client.query('SELECT username, role FROM rm.users');
      await client.end();
      expect(rows).toEqual([{ username: 'ops', role: 'admin' }]);

      const wrong = startTianqi(env, ['rebuild-projections', 'nope']);
      expect(await wrong.exited).toBe(2);
      expect(wrong.output()).toMatch(/no read model nope; there are users, images/);
    } finally {
      await db.drop();
      await rm(env.TIANQI_DATA_DIR, { recursive: true, force: true });
    }
  });

  it('on a first start registers the local Docker engine as the first node, CPU-only, connected', async () => {
    const db = await createTestDatabase();
    const dataDir = await mkdtemp(join(tmpdir(), 'tianqi-data-'));
    const port = await freePort();
    const socket = loadTestNodes().nodes[0]!.socketPath; // stands in for /var/run/docker.sock
    try {
      const started = startTianqi({
        PORT: String(port),
        DATABASE_URL: db.url,
        TIANQI_DATA_DIR: dataDir,
        TIANQI_DOCKER_LOCAL_SOCKET: socket,
      });
      await waitForHealth(port, started);
      const client = new pg.Client({ connectionString: db.url });
      await client.connect();
      let rows: {
        name: string;
        docker_address: string;
        gpu_count: number;
        docker_status: string;
        cpu_cores: number;
      }[] = [];
      for (let i = 0; i < 100 && rows[0]?.docker_status !== 'connected'; i++) {
        ({ rows } = await client.query(
          'SELECT name, docker_address, gpu_count, docker_status, cpu_cores FROM rm.nodes',
        ));
        await new Promise((r) => setTimeout(r, 100));
      }
      await client.end();
      expect(rows).toEqual([
        {
          name: 'local',
          docker_address: `unix://${socket}`,
          gpu_count: 0,
          docker_status: 'connected',
          cpu_cores: cpus().length,
        },
      ]);
      started.child.kill('SIGTERM');
      expect(await started.exited).toBe(0);
    } finally {
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('refuses a bad configuration, naming the key, and exits non-zero', async () => {
    const started = startTianqi({ TIANQI_JUMPBOX_PORT: '99999' });
    expect(await started.exited).toBe(1);
    expect(started.output()).toMatch(/jumpbox\.port \(environment variable TIANQI_JUMPBOX_PORT\)/);
  });

  it('a database URL that cannot be used stops the start with a sentence naming what is wrong, no stack trace', async () => {
    const server = await startThrowawayPostgres();
    const dataDir = await mkdtemp(join(tmpdir(), 'tianqi-data-'));
    try {
      // Passwords over TCP, as a real installation has them.
      await writeFile(
        join(server.directory, 'data', 'pg_hba.conf'),
        'local all all trust\nhost all postgres 127.0.0.1/32 trust\nhost all all 127.0.0.1/32 scram-sha-256\n',
      );
      const admin = new pg.Client({ connectionString: server.url });
      await admin.connect();
      await admin.query("CREATE ROLE tianqi LOGIN PASSWORD 'right-password'");
      await admin.query('SELECT pg_reload_conf()');
      await admin.end();
      const at = `127.0.0.1:${server.port}`;
      const cases: [string, RegExp][] = [
        [`postgres://tianqi@${at}/postgres`, /asks for a password, and the URL has none/],
        [`postgres://tianqi:wrong-password@${at}/postgres`, /refused the password in the URL/],
        [`postgres://tianqi:right-password@${at}/no_such_db`, /has no such database .*no_such_db/],
        [
          `postgres://tianqi:x@127.0.0.1:${await freePort()}/postgres`,
          /nothing listens at that host and port/,
        ],
      ];
      for (const [url, says] of cases) {
        const started = startTianqi({
          DATABASE_URL: url,
          TIANQI_DATA_DIR: dataDir,
          PORT: String(await freePort()),
        });
        expect(await started.exited).toBe(1);
        const output = started.output();
        expect(output).toMatch(says);
        expect(output).toMatch(/Fix database\.url \(or DATABASE_URL\)/);
        expect(output).not.toMatch(/\n\s+at /); // no stack trace
        expect(output).not.toContain('wrong-password');
      }
    } finally {
      await server.stop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });

  it('a damaged SSH host key stops the start with a message that names the file', async () => {
    const db = await createTestDatabase();
    const dataDir = await mkdtemp(join(tmpdir(), 'tianqi-data-'));
    const keyFile = join(dataDir, 'ssh_host_ed25519_key');
    await writeFile(
      keyFile,
      '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUA\n-----END OPENSSH PRIVATE KEY-----\n',
    );
    try {
      const started = startTianqi({
        DATABASE_URL: db.url,
        TIANQI_DATA_DIR: dataDir,
        PORT: String(await freePort()),
        TIANQI_JUMPBOX_ENABLED: 'true',
        TIANQI_JUMPBOX_PORT: String(await freePort()),
      });
      expect(await started.exited).toBe(1);
      expect(started.output()).toContain(
        `The SSH jumpbox's host key ${keyFile} is damaged or not a private key`,
      );
      expect(started.output()).toMatch(/Remove it to have a new key generated at the next start/);
      expect(started.output()).not.toMatch(/\n\s+at /);
    } finally {
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
