/**
 * A simulated fleet (issue 17): 100 stand-in Docker nodes holding 10,000 running instances
 * (seedDatabase, as api.bench.ts seeds its 3), served by one and then by three `tianqi start` replicas
 * (the built server) on one PostgreSQL. Two figures for each:
 *
 * - one full sync of the fleet: "sync now" asked on every replica at once (each syncs only the nodes it
 *   holds the lease of: every container listed, every running one sampled), wall time until every
 *   replica has answered; each engine must have been listed once more (its `GET /containers/json`
 *   count). Median of 3, beside the sync interval (30 s) and, for three, beside one. Target with
 *   three: ≤ 5 s.
 * - instance creates per second: CLIENTS concurrent clients spread over the replicas, each creating
 *   for the seeded creator as soon as its last create was answered, for SECONDS; the containers are
 *   made by the node owners' reconcilers on the stand-in engines (how long that took is a parameter).
 *
 * Order: one replica (its sync), two more started (their sync, their creates), the two stopped (the
 * creates of one), so the syncs see the same 10,000 instances and the creates the same fleet.
 * Environment: TIANQI_BENCH_FLEET_NODES (100), TIANQI_BENCH_FLEET_INSTANCES (10,000),
 * TIANQI_BENCH_FLEET_CLIENTS (30), TIANQI_BENCH_SECONDS (each create run, 10);
 * TIANQI_BENCH_FLEET_LOG_LEVEL and TIANQI_BENCH_FLEET_LOGS (a folder) keep the replicas' logs;
 * TIANQI_BENCH_FLEET_NODE_OPTIONS are the replicas' node options. Needs
 * `npm run build`.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BenchReport,
  type BenchRow,
  machineTicks,
  openBenchDatabase,
  percentile,
  StandInDockerEngine,
  timed,
} from '@tianqi/infra';
import { seedDatabase } from '../src/bench/seed.js';
import { defaultConfig } from '../src/config/schema.js';
import { LABEL_INSTANCE } from '../src/docker/labels.js';
import { type ApiClient, createApiClient } from '../test/support/api-client.js';
import { CLUSTER_ADMIN, ReplicaCluster } from '../test/support/replica-cluster.js';

const NODES = Number(process.env.TIANQI_BENCH_FLEET_NODES ?? 100);
const INSTANCES = Number(process.env.TIANQI_BENCH_FLEET_INSTANCES ?? 10_000);
const CLIENTS = Number(process.env.TIANQI_BENCH_FLEET_CLIENTS ?? 30);
const SECONDS = Number(process.env.TIANQI_BENCH_SECONDS ?? 10);
const SYNCS = 3;
// The replicas run with the default lease (5 s), as a user's would.
const LEASE_SECONDS = defaultConfig.replicas['lease-seconds'];
const PASSWORD = 'bench-password';
const INTERVAL = defaultConfig.sync['interval-seconds'];
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function main(): Promise<void> {
  const report = new BenchReport('fleet');
  const started = performance.now();
  const clock = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
  const db = await openBenchDatabase();
  const dir = await mkdtemp(join(tmpdir(), 'tianqi-fleet-bench-'));
  const engines = Array.from(
    { length: NODES },
    (_, n) => new StandInDockerEngine(join(dir, `node${n}.sock`), LABEL_INSTANCE),
  );
  // The hourly cron only (the longest interval allowed): the bench's syncs are the ones it asks for.
  const cluster = new ReplicaCluster(db.url, {
    TIANQI_SYNC_INTERVAL_SECONDS: '3600',
    TIANQI_LOG_LEVEL: process.env.TIANQI_BENCH_FLEET_LOG_LEVEL ?? 'error',
    // e.g. `--cpu-prof --cpu-prof-dir=DIR`: where a replica's time goes (the bench's own process not)
    ...(process.env.TIANQI_BENCH_FLEET_NODE_OPTIONS
      ? { NODE_OPTIONS: process.env.TIANQI_BENCH_FLEET_NODE_OPTIONS }
      : {}),
  });
  const live = () => cluster.replicas.filter((r) => r.child.exitCode === null && r.child.signalCode === null);
  const calls = (route: string) => engines.map((e) => e.calls.get(route) ?? 0);
  const total = (route: string) => calls(route).reduce((a, b) => a + b, 0);
  const allCalls = () =>
    engines.reduce((sum, e) => sum + [...e.calls.values()].reduce((a, b) => a + b, 0), 0);

  /** A replica's syncs so far and its reconciler's queue, from /metrics. */
  const state = async (r: { url: string }) => {
    const text = await (await fetch(`${r.url}/metrics`)).text();
    const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
    return {
      syncs: value('tianqi_sync_duration_seconds_count'),
      queue: value('tianqi_reconciler_queue_depth'),
    };
  };

  /** Every node lease held, each live replica its share, and nothing asked of the engines for a second. */
  const settle = async () => {
    const replicas = live();
    const share = NODES / replicas.length;
    for (let i = 0; ; i++) {
      const held = await cluster.holders();
      const counts = replicas.map((r) => (held.get(r.id) ?? []).filter((l) => l.startsWith('node:')).length);
      const balanced =
        counts.reduce((a, b) => a + b, 0) === NODES &&
        counts.every((c) => c >= Math.floor(share) && c <= Math.ceil(share));
      if (balanced) break;
      if (i > 1200) throw new Error(`the node leases did not settle: ${counts.join(' / ')}`);
      await sleep(100);
    }
    // Then no sync going (a first look, or one more asked by another replica's "sync now"): each replica
    // has synced, its reconciler is idle, and neither its syncs nor the engines' calls moved for 2 s.
    let last = '';
    const deadline = Date.now() + 300_000;
    for (let quiet = 0; quiet < 2; ) {
      const states = await Promise.all(replicas.map((r) => state(r)));
      if (Date.now() > deadline) throw new Error(`the replicas did not settle: ${JSON.stringify(states)}`);
      const now = JSON.stringify([allCalls(), states]);
      quiet = now === last && states.every((s) => s.syncs >= 1 && s.queue === 0) ? quiet + 1 : 0;
      last = now;
      await sleep(1000);
    }
  };

  /** "Sync now" on every replica at once: seconds until all have answered. */
  const syncFleet = async (clients: ApiClient[]) => {
    const before = calls('GET /containers/json');
    const machine = machineTicks();
    const engineCpu = process.cpuUsage();
    const t0 = performance.now();
    const answers = await Promise.all(clients.map((c) => c.drift.syncNow.mutate()));
    const seconds = (performance.now() - t0) / 1000;
    const engineCpuS = (({ user, system }) => (user + system) / 1e6)(process.cpuUsage(engineCpu));
    const after_ = machineTicks();
    const busy = (after_.busy - machine.busy) / (after_.total - machine.total);
    const after = calls('GET /containers/json');
    const missed = after.filter((n, i) => n <= before[i]!).length;
    if (missed > 0) throw new Error(`${missed} nodes were not listed by the sync`);
    const nodes = answers.reduce((a, r) => a + r.nodes, 0);
    if (nodes < NODES) throw new Error(`the replicas synced ${nodes} nodes of ${NODES}`);
    await settle(); // a replica told by another after its own run syncs once more: not in the next run
    return {
      seconds,
      sampled: answers.reduce((a, r) => a + r.sampled, 0),
      ms: answers.map((r) => r.ms),
      busy,
      engineShare: engineCpuS / seconds,
    };
  };

  const syncRow = async (clients: ApiClient[], peer?: BenchRow): Promise<BenchRow> => {
    const runs = [];
    for (let i = 0; i < SYNCS; i++) runs.push(await syncFleet(clients));
    const sorted = runs.map((r) => r.seconds).sort((a, b) => a - b);
    const value = percentile(sorted, 50);
    const replicas = clients.length;
    console.error(`  ${replicas} replica(s): ${sorted.map((s) => s.toFixed(2)).join(' / ')} s (${clock()})`);
    return report.add({
      name: `full sync of ${NODES} nodes, ${INSTANCES.toLocaleString('en')} running instances, ${replicas} replica${replicas > 1 ? 's' : ''}, median of ${SYNCS}`,
      unit: 's',
      value,
      params: {
        replicas,
        nodes: NODES,
        instances: INSTANCES,
        runsSeconds: sorted.map((s) => s.toFixed(2)).join(' / '),
        slowestReplicaMs: Math.round(Math.max(...runs.flatMap((r) => r.ms))),
        sampledPerRun: runs[0]!.sampled,
        // What limits it: the machine's two cores busy, and how much of one core the stand-in engines
        // (this process, answering every list, inspect and stats call) used.
        machineBusyPercent: Math.round(
          percentile(
            runs.map((r) => r.busy * 100).sort((a, b) => a - b),
            50,
          ),
        ),
        engineCores: Number(
          percentile(
            runs.map((r) => r.engineShare).sort((a, b) => a - b),
            50,
          ).toFixed(2),
        ),
        syncIntervalSeconds: INTERVAL,
        leaseSeconds: LEASE_SECONDS,
        intervalRatio: Number((value / INTERVAL).toFixed(3)),
      },
      ...(peer
        ? {
            peer: { name: '1 replica', value: peer.value, ratio: value / peer.value },
            target: { op: '<=', value: 5 },
          }
        : { peer: { name: 'sync interval', value: INTERVAL, ratio: value / INTERVAL } }),
    });
  };

  /** CLIENTS clients over the live replicas creating for the creator; then until every container is made. */
  const creates = async (clients: ApiClient[], ids: { imageId: string; specId: string }) => {
    const replicas = clients.length;
    const made = total('POST /containers/create');
    const failures = new Map<string, number>();
    let accepted = 0;
    const machine = machineTicks();
    const perSecond = await timed(CLIENTS, SECONDS, async (w, i) => {
      try {
        await clients[w % replicas]!.instances.create.mutate({
          name: `fleet-${replicas}-${w}-${i}`,
          imageId: ids.imageId,
          specId: ids.specId,
        });
        accepted++;
        return true;
      } catch (err) {
        const code = (err as { data?: { code?: string } }).data?.code ?? String(err).slice(0, 60);
        failures.set(code, (failures.get(code) ?? 0) + 1);
        return false;
      }
    });
    const after = machineTicks();
    const t0 = performance.now();
    // The containers, made by the node owners' reconcilers (the stand-in engines answer at once).
    while (total('POST /containers/create') - made < accepted * 0.99 && performance.now() - t0 < 120_000)
      await sleep(100);
    const containersSeconds = (performance.now() - t0) / 1000;
    console.error(`  ${replicas} replica(s): ${perSecond.toFixed(1)} creates/s (${clock()})`);
    return {
      name: `instances.create per second, ${CLIENTS} clients over ${replicas} replica${replicas > 1 ? 's' : ''}`,
      unit: 'creates/s',
      value: perSecond,
      params: {
        replicas,
        clients: CLIENTS,
        seconds: SECONDS,
        accepted,
        failures: [...failures].map(([c, n]) => `${c}×${n}`).join(' ') || 'none',
        containersMade: total('POST /containers/create') - made,
        containersDoneAfterSeconds: Number(containersSeconds.toFixed(1)),
        machineBusyPercent: Math.round(((after.busy - machine.busy) / (after.total - machine.total)) * 100),
      },
    };
  };

  try {
    await Promise.all(engines.map((e) => e.listen()));
    console.error(`writing ${INSTANCES.toLocaleString('en')} instances on ${NODES} nodes (${clock()})`);
    const seeded = await seedDatabase(db.url, engines, {
      users: 100,
      instances: INSTANCES,
      nodes: NODES,
      password: PASSWORD,
    });
    console.error(
      `  written in ${seeded.seedSeconds.toFixed(1)} s, read models in ${seeded.projectSeconds.toFixed(1)} s`,
    );

    console.error(`one replica, its first sync (${clock()})`);
    await cluster.start();
    await settle();
    const login = async (username: string, password: string) => {
      const { token } = await createApiClient(cluster.replicas[0]!.url).auth.login.mutate({
        username,
        password,
        via: 'cli',
      });
      if (!token) throw new Error(`${username} could not sign in`);
      return token;
    };
    const admin = await login(CLUSTER_ADMIN.username, CLUSTER_ADMIN.password);
    const creator = await login(seeded.creator, PASSWORD);
    const as = (token: string) => live().map((r) => createApiClient(r.url, token));
    const sync1 = await syncRow(as(admin));

    console.error(`three replicas (${clock()})`);
    await cluster.start();
    await cluster.start();
    await settle();
    await syncRow(as(admin), sync1);
    const create3 = await creates(as(creator), seeded);

    console.error(`back to one replica (${clock()})`);
    for (const r of cluster.replicas.slice(1)) {
      r.child.kill('SIGTERM');
      await r.exited;
    }
    await settle();
    const create1 = await creates(as(creator), seeded);
    report.add(create1);
    report.add({
      ...create3,
      peer: { name: '1 replica', value: create1.value, ratio: create3.value / create1.value },
    });
    const unknown = engines.flatMap((e) => e.unknownCalls());
    if (unknown.length > 0)
      console.error(`the stand-in engines were asked for: ${unknown.map(([r, c]) => `${r}×${c}`).join(' ')}`);
    console.error(`done in ${clock()}`);
  } finally {
    const logs = process.env.TIANQI_BENCH_FLEET_LOGS;
    if (logs) for (const r of cluster.replicas) await writeFile(join(logs, `${r.port}.log`), r.output());
    await cluster.close();
    await Promise.all(engines.map((e) => e.close().catch(() => {})));
    await db.drop();
    await rm(dir, { recursive: true, force: true });
  }
  report.finish(process.argv.slice(2), REPO);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
