import { type ChildProcess, spawn } from 'node:child_process';
import { chmod, mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createTestDatabase, freePort } from '@tianqi/infra';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';

const BIN = fileURLToPath(new URL('../bin/tianqi.js', import.meta.url));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

interface Started {
  child: ChildProcess;
  output: () => string;
  exited: Promise<number | null>;
}

function startTianqi(env: Record<string, string>): Started {
  const childEnv: NodeJS.ProcessEnv = { ...process.env, TIANQI_LOG_LEVEL: 'warn', ...env };
  if (!('DATABASE_URL' in env)) delete childEnv.DATABASE_URL;
  const child = spawn(process.execPath, [BIN, 'start'], { env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
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

describe('`tianqi start`', () => {
  it('with no DATABASE_URL starts an embedded PostgreSQL, migrates it, answers /healthz, and keeps its data', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'tianqi-data-'));
    await chmod(dataDir, 0o755); // as root, the embedded server runs as `postgres` and must reach it
    const port = await freePort();
    const env = {
      PORT: String(port),
      TIANQI_DATA_DIR: dataDir,
      TIANQI_DATABASE_EMBEDDED_PORT: String(await freePort()),
    };
    try {
      const first = startTianqi(env);
      expect(await waitForHealth(port, first)).toEqual({ status: 'ok' });
      expect(first.output()).toContain(`Tianqi is running at http://localhost:${port}`);
      expect(await (await fetch(`http://127.0.0.1:${port}/readyz`)).json()).toEqual({ status: 'ready' });

      const creds = JSON.parse(await readFile(join(dataDir, 'postgres-credentials.json'), 'utf8'));
      const url = `postgres://${creds.user}:${encodeURIComponent(creds.password)}@127.0.0.1:${env.TIANQI_DATABASE_EMBEDDED_PORT}/postgres`;
      const client = new pg.Client({ connectionString: url });
      await client.connect();
      const { rows } = await client.query(
        'SELECT component, version FROM schema_migrations ORDER BY version',
      );
      expect(rows).toEqual([
        { component: 'events', version: 1 },
        { component: 'events', version: 2 },
        { component: 'events', version: 3 },
      ]);
      await client.query(
        `SELECT tianqi_append('[{"streamId":"kept","expectedVersion":"no_stream","events":[{"type":"T","data":{},"metadata":{}}]}]', null)`,
      );
      await client.end();

      first.child.kill('SIGTERM');
      expect(await first.exited).toBe(0);

      const second = startTianqi(env);
      await waitForHealth(port, second);
      const again = new pg.Client({ connectionString: url });
      await again.connect();
      const kept = await again.query(`SELECT count(*)::int AS n FROM events WHERE stream_id = 'kept'`);
      await again.end();
      expect(kept.rows[0].n).toBe(1);
      second.child.kill('SIGTERM');
      expect(await second.exited).toBe(0);
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
      expect(rows[0].n).toBe(3);
      started.child.kill('SIGTERM');
      expect(await started.exited).toBe(0);
      expect((await import('node:fs')).existsSync(join(dataDir, 'postgres'))).toBe(false);
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
});
