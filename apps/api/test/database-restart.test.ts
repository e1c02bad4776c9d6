import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  dockerOverTcp,
  freePort,
  loadTestNodes,
  startThrowawayPostgres,
  type ThrowawayPostgres,
} from '@tianqi/infra';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { LABEL_INSTANCE } from '../src/docker/labels.js';
import { until } from './docker-fixture.js';
import { figures, type RequestRecord, startTraffic } from './request-traffic.js';
import { createApiClient } from './support/api-client.js';

// The real server (`tianqi start`) on a PostgreSQL of its own: restarting the shared test database
// would disturb every other test file.
const BIN = fileURLToPath(new URL('../bin/tianqi-server.js', import.meta.url));
const ADMIN = { username: 'admin', password: 'admin-password' };
/**
 * Five real restarts in a row, each followed by every session terminated, and two outages with
 * connections refused for 2.5 s: the server must serve again after each.
 */
const ROUNDS = [
  'restart',
  'terminate',
  'restart',
  'terminate',
  'outage',
  'restart',
  'terminate',
  'restart',
  'terminate',
  'outage',
  'restart',
  'terminate',
] as const;

let postgres: ThrowawayPostgres | undefined;
let child: ChildProcess | undefined;
let dataDir: string | undefined;
afterAll(async () => {
  child?.kill('SIGKILL');
  await postgres?.stop();
  if (dataDir) await rm(dataDir, { recursive: true, force: true });
});

/** Every session but the caller's cut, as `pg_terminate_backend` does when an admin ends them. */
async function terminateSessions(url: string): Promise<number> {
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  try {
    const { rows } = await admin.query<{ n: number }>(
      `SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
       WHERE pid <> pg_backend_pid() AND backend_type = 'client backend'`,
    );
    return rows[0]!.n;
  } finally {
    await admin.end();
  }
}

describe('PostgreSQL restarting under traffic', () => {
  it('the server serves through every restart; what fails is a 503 database_unavailable with its request id; read models and the reconciler catch up', async () => {
    postgres = await startThrowawayPostgres();
    const db = postgres;
    dataDir = await mkdtemp(join(tmpdir(), 'tianqi-pg-restart-'));
    const port = await freePort();
    const url = `http://127.0.0.1:${port}`;
    let output = '';
    const server = spawn(process.execPath, [BIN, 'start'], {
      env: {
        ...process.env,
        PORT: String(port),
        TIANQI_SERVER_HOST: '127.0.0.1',
        DATABASE_URL: db.url,
        TIANQI_DATA_DIR: dataDir,
        TIANQI_JUMPBOX_ENABLED: 'false',
        TIANQI_DOCKER_LOCAL_SOCKET: '',
        TIANQI_DOCKER_NETWORK_MODE: 'none',
        TIANQI_DOCKER_STOP_TIMEOUT_SECONDS: '1',
        // The sync runs through the restarts too.
        TIANQI_SYNC_INTERVAL_SECONDS: '2',
        TIANQI_ADMIN_USERNAME: ADMIN.username,
        TIANQI_ADMIN_PASSWORD: ADMIN.password,
        TIANQI_LOG_LEVEL: 'error',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child = server;
    const keep = (d: Buffer) => {
      output = (output + d.toString()).slice(-20_000);
    };
    server.stdout!.on('data', keep);
    server.stderr!.on('data', keep);
    const alive = () => {
      if (server.exitCode !== null || server.signalCode !== null) {
        throw new Error(`tianqi exited (${server.exitCode ?? server.signalCode}):\n${output.slice(-4_000)}`);
      }
    };
    const ready = async () => {
      alive();
      const res = await fetch(`${url}/readyz`).catch(() => null);
      return res?.status === 200;
    };
    await until('the server to be ready', ready, 60_000);
    const { token } = await createApiClient(url).auth.login.mutate({ ...ADMIN, via: 'cli' });
    const admin = createApiClient(url, token!);

    // Bounded in time; the count bound is set far past what the rounds need, so no round runs without traffic.
    const traffic = startTraffic(url, token!, { workers: 4, maxMs: 300_000, maxRequests: 200_000 });
    const calm: { from: number; to: number }[] = [];
    const recovery: {
      round: string;
      from: number;
      to: number;
      recoveredMs: number;
      readyzDuring: number;
    }[] = [];
    try {
      let calmFrom = Date.now();
      await until('traffic to flow', async () => figures(traffic.records).ok >= 40, 30_000);
      for (const [n, round] of ROUNDS.entries()) {
        const from = Date.now();
        calm.push({ from: calmFrom, to: from });
        // While the database is away the server must say it is not ready.
        let readyzDuring = 0;
        const probe = setInterval(() => {
          void fetch(`${url}/readyz`)
            .then((r) => {
              if (r.status === 503) readyzDuring++;
            })
            .catch(() => {});
        }, 100);
        try {
          if (round === 'restart') await db.restart();
          else if (round === 'outage') await db.outage(2_500);
          else expect(await terminateSessions(db.url)).toBeGreaterThan(0);
        } finally {
          clearInterval(probe);
        }
        const back = Date.now();
        // Recovered: ready again, and a write made now is in the read models.
        await until('readiness after the restart', ready, 60_000);
        const name = `probe-${n}`;
        await until(
          `a write after round ${n} (${round}) to be projected`,
          async () => {
            alive();
            await admin.images.create
              .mutate({ name, address: 'busybox:latest', listed: false })
              .catch(() => {});
            const images = await admin.images.list.query({ includeUnlisted: true }).catch(() => []);
            return images.some((i) => i.name === name);
          },
          60_000,
        );
        calmFrom = Date.now();
        recovery.push({ round, from, to: calmFrom, recoveredMs: calmFrom - back, readyzDuring });
        alive();
        // Ordinary traffic again before the next round.
        await new Promise((resolve) => setTimeout(resolve, 2_000));
      }
      calm.push({ from: calmFrom, to: Date.now() });
    } finally {
      await traffic.stop();
    }

    const all = figures(traffic.records);
    const inCalm = (r: RequestRecord) => calm.some((c) => r.startedAt >= c.from && r.endedAt <= c.to);
    const calmFailures = traffic.records.filter((r) => inCalm(r) && r.outcome !== 'ok');
    const during = (w: { from: number; to: number }) =>
      figures(traffic.records.filter((r) => r.endedAt >= w.from && r.startedAt <= w.to));
    console.log(
      [
        `database restarts under traffic: ${all.sent} requests, ${all.failed} failed (${all.unexpected.length} not a 503 database_unavailable with its request id), ${all.hung} hung, ${all.lost} lost`,
        ...recovery.map((r) => {
          const f = during(r);
          return `  ${r.round}: ${f.sent} requests while it lasted, ${f.failed} failed; serving again ${r.recoveredMs} ms after the database was back (/readyz said 503 ×${r.readyzDuring})`;
        }),
      ].join('\n'),
    );
    alive();
    expect(all.unexpected).toEqual([]);
    expect(all.hung).toBe(0);
    expect(all.lost).toBe(0);
    // Outside the restarts nothing fails: no broken connection is left behind in the pool.
    expect(calmFailures.map((r) => `${r.what}: ${r.outcome} ${r.detail}`)).toEqual([]);
    expect(recovery).toHaveLength(ROUNDS.length);
    // Every round had traffic, the outages were seen as such, and something was answered with the 503.
    for (const r of recovery) expect(during(r).sent, `requests during ${r.round}`).toBeGreaterThan(0);
    for (const r of recovery.filter((x) => x.round === 'outage'))
      expect(r.readyzDuring, '/readyz during an outage').toBeGreaterThan(0);
    expect(all.failed).toBeGreaterThan(0);

    // Nothing half-done: every image in the log is in the read model, once.
    const own = new pg.Client({ connectionString: db.url });
    await own.connect();
    try {
      const { rows } = await own.query<{ n: number }>(
        `SELECT count(*)::int AS n FROM events WHERE type = 'ImageRegistered'`,
      );
      const listed = await admin.images.list.query({ includeUnlisted: true });
      expect(listed).toHaveLength(rows[0]!.n);
      const names = new Set(listed.map((i) => i.name));
      const answered = traffic.records.filter((r) => r.what === 'images.create' && r.outcome === 'ok');
      expect(answered.filter((r) => !names.has(r.subject!))).toEqual([]);
    } finally {
      await own.end();
    }

    // The reconciler's subscription resumed too: an instance created now reaches running, then goes.
    const nodes = loadTestNodes();
    const plain = nodes.nodes[1]!; // plain TCP
    await admin.nodes.register.mutate({
      name: 'restart-node',
      cpuCores: 8,
      memoryGb: 16,
      systemDiskGb: 100,
      dockerAddress: `tcp://${plain.host}:${plain.port}`,
      useTls: false,
    });
    await until(
      'the node to be connected',
      async () => (await admin.nodes.list.query())[0]?.dockerStatus === 'connected',
      60_000,
    );
    const imageId = (await admin.images.create.mutate({ name: 'sh', address: nodes.images.sh })).id;
    const specId = (
      await admin.specs.create.mutate({
        name: 'cpu-small',
        gpuCount: 0,
        cpuCores: 0.5,
        memoryGb: 0.5,
        systemDiskGb: 1,
        pricePerHour: 0,
      })
    ).id;
    const { id } = await admin.instances.create.mutate({ name: 'after-restarts', imageId, specId });
    const docker = dockerOverTcp(plain);
    try {
      await until(
        'the instance to run',
        async () => (await admin.instances.get.query({ instanceId: id })).observed === 'running',
        90_000,
      );
      await admin.instances.delete.mutate({ instanceId: id });
      await until(
        'the instance to be removed',
        async () => (await admin.instances.get.query({ instanceId: id })).observed === 'removed',
        60_000,
      );
    } finally {
      const left = await docker.listContainers({
        all: true,
        filters: { label: [`${LABEL_INSTANCE}=${id}`] },
      });
      for (const c of left) await docker.getContainer(c.Id).remove({ force: true, v: true });
    }
    alive();
  }, 600_000);
});
