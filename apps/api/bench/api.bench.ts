/**
 * API benchmark: the whole platform (`tianqi start`, compiled as `npm run build` does) as its own
 * process, on a database holding 10,000 running instances on 3 nodes (100 users, ~100 each), loaded by
 * 50 concurrent HTTP clients (autocannon) from this process: `instances.list` as an admin (every
 * instance) and as a user (their ~100), each saturated (every client sends again as soon as it is
 * answered) and paced (RATE requests a second in all); then `instances.create`, a new name each time.
 * Latency p50/p99, successful requests/s, failures, and the API process's CPU per request; its resident
 * memory (VmRSS of its own pid) idle after start (beside the same process on an empty database), after
 * the load and after more syncs; and the heap an hour of resource samples takes. Targets from the
 * issue: list p99 ≤ 50 ms; RSS ≤ 300 MB with 10,000 instances on 3 nodes.
 * `npm run bench -- --json` writes bench/results/api.json. About 2½ minutes with the defaults.
 * `--only=creates` runs the creates alone (no lists, no memory figures).
 *
 * Environment: TIANQI_BENCH_SECONDS (each load run, default 10), TIANQI_BENCH_API_INSTANCES (10,000),
 * TIANQI_BENCH_API_USERS (100), TIANQI_BENCH_API_NODES (3), TIANQI_BENCH_API_CONNECTIONS (50), TIANQI_BENCH_API_RATE (paced runs,
 * 100 req/s), TIANQI_BENCH_API_SYNCS (syncs after the load, default 3), TIANQI_BENCH_API_FROM=source
 * (run src/ under tsx instead of compiling: no tsc, but tsx's loader adds ~50 MB resident),
 * TIANQI_BENCH_API_NODE_ARGS (node options for the API process; default those `npm start` gives it;
 * e.g. `--cpu-prof --cpu-prof-dir=DIR`, or empty for V8's defaults), TIANQI_BENCH_DATABASE_URL (else a private PostgreSQL).
 *
 * Why the nodes are stand-in Docker engines served here: the platform acts on every instance whose
 * work may be unfinished as soon as it starts. Nodes at unreachable addresses, or recorded as failed,
 * do not keep it quiet: each of the 10,000 instances is retried for ever (RetryLater, backoff capped at
 * 30 s: about 450 reconciler passes a second, two database reads each), which would be measured along
 * with the API; and a platform whose nodes do not answer keeps no resource samples, whose memory is
 * part of the 300 MB. So each node is a small HTTP server on a unix socket that answers the few Docker
 * calls the platform makes (version, list, create, start, inspect, stats) from a table of containers,
 * at no cost worth counting (the engine is the test kit's StandInDockerEngine). The 10,000 instances
 * are written before the API starts, through the domain's deciders (src/bench/seed.ts: the same
 * decisions the create command makes: node allocation, instance, name claim, then container created and
 * started as the reconciler records them, with containers from the reconciler's recipe), appended in
 * bulk; test/bench-seed.test.ts checks them event for event against the commands. The reconciler's
 * first pass then finds every container as recorded and does nothing. The creates
 * under load do go through the reconciler, which makes and starts their containers on these engines.
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm, symlink } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { createPool, EventStore } from '@tianqi/events';
import {
  BenchReport,
  type BenchRow,
  freePort,
  type Measured,
  machineTicks,
  openBenchDatabase,
  pace,
  processCpuMs,
  processMemoryMb,
  type SaturateOptions,
  StandInDockerEngine,
  saturate,
  timed,
} from '@tianqi/infra';
import { platformEvents } from '@tianqi/projections';
import { seedDatabase } from '../src/bench/seed.js';
import { defaultConfig } from '../src/config/schema.js';
import { LABEL_INSTANCE } from '../src/docker/labels.js';
import { SERVER_NODE_FLAGS } from '../src/start/heap-growth.js';
import { type DockerStats, MetricsStore, toSample } from '../src/sync/metrics.js';
import { bareAppend } from './bare-append.js';

const SECONDS = Number(process.env.TIANQI_BENCH_SECONDS ?? 10);
const INSTANCES = Number(process.env.TIANQI_BENCH_API_INSTANCES ?? 10_000);
const USERS = Number(process.env.TIANQI_BENCH_API_USERS ?? 100);
const CONNECTIONS = Number(process.env.TIANQI_BENCH_API_CONNECTIONS ?? 50);
const SYNCS = Number(process.env.TIANQI_BENCH_API_SYNCS ?? 3);
/** The paced list runs: this many requests a second over all the clients (2 a second each by default). */
const RATE = Number(process.env.TIANQI_BENCH_API_RATE ?? 100);
/**
 * Node's options for the API process: by default what `npm start` gives it (SERVER_NODE_FLAGS), so the
 * memory rows are a user's; e.g. `--cpu-prof --cpu-prof-dir=/tmp/prof` to see where time goes.
 */
const NODE_ARGS = (process.env.TIANQI_BENCH_API_NODE_ARGS ?? SERVER_NODE_FLAGS.join(' '))
  .split(/\s+/)
  .filter(Boolean);
const ARGS_NOTE =
  NODE_ARGS.join(' ') === SERVER_NODE_FLAGS.join(' ')
    ? ' (as npm start runs it)'
    : ` (node ${NODE_ARGS.join(' ') || 'with no flags'})`;
const NODES = Number(process.env.TIANQI_BENCH_API_NODES ?? 3);
const PASSWORD = 'bench-password';
const ADMIN = { username: 'admin', password: 'admin-password' };
const REPO = fileURLToPath(new URL('../../../', import.meta.url));
/** `source`: run src/cli/tianqi-server.ts under tsx (no build, but tsx's loader adds ~50 MB resident). */
const FROM_SOURCE = process.env.TIANQI_BENCH_API_FROM === 'source';
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const CREATES_ONLY = process.argv.includes('--only=creates');

// ---------------------------------------------------------------------------------------------------
// The API process

interface Api {
  child: ChildProcess;
  base: string;
  output(): string;
}

/**
 * The API compiled as `npm run build` compiles it (tsc, tsconfig.build.json), but into `dir`, leaving
 * apps/api/dist alone: `npm run bench` builds the packages the API uses, not the API itself, and
 * running it from source under tsx would count tsx's loader in its memory. `dir` mirrors the repository
 * where the compiled code looks around itself (migrations, the web app, node_modules).
 */
async function buildApi(dir: string): Promise<string[]> {
  if (FROM_SOURCE) {
    return ['--import', import.meta.resolve('tsx'), join(REPO, 'apps/api/src/cli/tianqi-server.ts')];
  }
  const api = join(dir, 'apps/api');
  await mkdir(api, { recursive: true });
  await symlink(join(REPO, 'node_modules'), join(dir, 'node_modules'));
  await symlink(join(REPO, 'apps/web'), join(dir, 'apps/web'));
  for (const f of ['package.json', 'migrations']) await symlink(join(REPO, 'apps/api', f), join(api, f));
  const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
  const outDir = join(api, 'dist');
  const built = spawnSync(
    process.execPath,
    [tsc, '-p', join(REPO, 'apps/api/tsconfig.build.json'), '--outDir', outDir, '--declaration', 'false'],
    { encoding: 'utf8' },
  );
  const entry = join(outDir, 'cli/tianqi-server.js');
  if (!existsSync(entry)) throw new Error(`building the API failed:\n${built.stdout}${built.stderr}`);
  // tsc writes its output even with type errors; the bench goes on, but says so.
  if (built.status !== 0) console.error(`  (tsc reported errors; running what it emitted)\n${built.stdout}`);
  return [entry];
}

function startApi(entry: string[], databaseUrl: string, dataDir: string, port: number): Api {
  // Only what is set here configures it: no TIANQI_* of the caller's shell, no tianqi.yaml (cwd).
  const env: NodeJS.ProcessEnv = Object.fromEntries(
    Object.entries(process.env).filter(
      ([k]) => !k.startsWith('TIANQI_') && k !== 'DATABASE_URL' && k !== 'PORT',
    ),
  );
  Object.assign(env, {
    PORT: String(port),
    DATABASE_URL: databaseUrl,
    TIANQI_SERVER_HOST: '127.0.0.1',
    TIANQI_DATA_DIR: dataDir,
    TIANQI_LOG_LEVEL: 'error',
    TIANQI_JUMPBOX_ENABLED: 'false',
    TIANQI_SECRETS_KEY: randomBytes(32).toString('base64'),
    TIANQI_ADMIN_USERNAME: ADMIN.username,
    TIANQI_ADMIN_PASSWORD: ADMIN.password,
    // The longest interval allowed: the cron fires at the top of each hour only (reported per run).
    TIANQI_SYNC_INTERVAL_SECONDS: '3600',
    TIANQI_DOCKER_LOCAL_SOCKET: '',
    TIANQI_DOCKER_NETWORK_MODE: 'none',
  });
  const child = spawn(process.execPath, [...NODE_ARGS, ...entry, 'start'], {
    cwd: dataDir,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  const keep = (d: Buffer) => {
    out = (out + d.toString()).slice(-20_000);
  };
  child.stdout!.on('data', keep);
  child.stderr!.on('data', keep);
  return { child, base: `http://127.0.0.1:${port}`, output: () => out };
}

async function stopApi(api: Api): Promise<void> {
  if (api.child.exitCode !== null || api.child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => api.child.once('exit', () => resolve()));
  api.child.kill('SIGTERM');
  const timer = setTimeout(() => api.child.kill('SIGKILL'), 15_000);
  await exited;
  clearTimeout(timer);
}

function alive(api: Api): void {
  if (api.child.exitCode !== null || api.child.signalCode !== null)
    throw new Error(
      `the API process exited (${api.child.exitCode ?? api.child.signalCode}):\n${api.output()}`,
    );
}

async function trpc<T>(api: Api, procedure: string, input: unknown, token?: string): Promise<T> {
  const res = await fetch(`${api.base}/api/trpc/${procedure}`, {
    method: 'POST',
    headers: {
      'content-type': 'application/json',
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: input === undefined ? undefined : JSON.stringify(input),
  });
  const body = (await res.json()) as { result?: { data: T }; error?: unknown };
  if (!res.ok || !body.result)
    throw new Error(`${procedure}: HTTP ${res.status} ${JSON.stringify(body.error)}`);
  return body.result.data;
}

/** Deletes the instances the creates made (named made-N), 50 at a time, through the API; how many. */
async function deleteMade(api: Api, token: string, databaseUrl: string): Promise<number> {
  const pool = createPool(databaseUrl, { max: 1 });
  let ids: string[];
  try {
    const { rows } = await pool.query<{ instance_id: string }>(
      "SELECT instance_id FROM rm.instances WHERE name LIKE 'made-%' AND desired <> 'deleted'",
    );
    ids = rows.map((r) => r.instance_id);
  } finally {
    await pool.end();
  }
  let next = 0;
  const worker = async () => {
    while (next < ids.length) {
      const instanceId = ids[next++]!;
      await trpc(api, 'instances.delete', { instanceId }, token);
    }
  };
  await Promise.all(Array.from({ length: CONNECTIONS }, worker));
  return ids.length;
}

async function login(api: Api, username: string, password: string): Promise<string> {
  const { token } = await trpc<{ token: string }>(api, 'auth.login', { username, password, via: 'cli' });
  return token;
}

/** The reconciler's queue depth, how many syncs have run, and the JS heap (MB), from /metrics. */
async function platformState(api: Api) {
  const text = await (await fetch(`${api.base}/metrics`)).text();
  const value = (name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1] ?? Number.NaN);
  const mb = (name: string) => Math.round(value(`tianqi_process_nodejs_${name}_bytes`) / 2 ** 20);
  return {
    queue: value('tianqi_reconciler_queue_depth'),
    syncs: value('tianqi_sync_duration_seconds_count'),
    heapUsedMb: mb('heap_size_used'),
    heapTotalMb: mb('heap_size_total'),
    externalMb: mb('external_memory'),
  };
}

/**
 * The API process's memory after `idleMs` without requests: resident (VmRSS of its pid) and peak
 * resident (VmHWM) in MB from /proc, and its JS heap as it reports it. Resident memory keeps what the
 * heap grew to under load, and what the C allocator does not give back, long after the data is gone.
 */
async function memoryOf(api: Api, idleMs = 5_000) {
  await sleep(idleMs);
  const { rss, peak } = processMemoryMb(api.child.pid!);
  const { heapUsedMb, heapTotalMb, externalMb } = await platformState(api);
  return { rss, params: { peakMb: Math.round(peak), heapUsedMb, heapTotalMb, externalMb } };
}

/** Until the reconciler has nothing to do (twice in a row) and at least `syncs` syncs have run. */
async function settle(api: Api, syncs: number, timeoutMs = 300_000): Promise<number> {
  const deadline = Date.now() + timeoutMs;
  let quiet = 0;
  for (;;) {
    alive(api);
    const s = await platformState(api).catch(() => null);
    quiet = s && s.queue === 0 && s.syncs >= syncs ? quiet + 1 : 0;
    if (s && quiet >= 2) return s.syncs;
    if (Date.now() > deadline) throw new Error(`the platform did not settle: ${JSON.stringify(s)}`);
    await sleep(250);
  }
}

/**
 * The memory (heap and array buffers) that an hour of resource samples takes (the sync keeps one per running instance per run,
 * an hour of them): measured here on the API's own MetricsStore with `per` instances, then scaled.
 * The bench's own syncs add only a few samples each, far from the hour a running platform keeps.
 */
function sampleHistory(instances: number, per = 1_000) {
  setFlagsFromString('--expose-gc');
  const gc = runInNewContext('gc') as () => void;
  const samples = Math.floor(3600 / defaultConfig.sync['interval-seconds']);
  const store = new MetricsStore();
  gc();
  // The heap and the typed arrays' backing stores (outside the heap): samples live in the latter.
  const used = () => process.memoryUsage().heapUsed + process.memoryUsage().arrayBuffers;
  const before = used();
  let cpu = 1e9;
  const start = Date.now();
  for (let k = 0; k < samples; k++) {
    for (let i = 0; i < per; i++) {
      cpu += 1e7 + i;
      const stats: DockerStats = {
        cpu_stats: { cpu_usage: { total_usage: cpu }, system_cpu_usage: cpu * 50, online_cpus: 2 },
        memory_stats: { usage: 2 ** 26 + i * 4096, limit: 2 ** 30, stats: { inactive_file: 2 ** 20 } },
        networks: { eth0: { rx_bytes: 1000 * k, tx_bytes: 2000 * k } },
        blkio_stats: { io_service_bytes_recursive: [{ op: 'read', value: 4096 * k }] },
        pids_stats: { current: 3 },
      };
      const id = `i${i}`;
      store.add(id, toSample(stats, store.previousCpu(id), start + k * 30_000), stats.cpu_stats);
    }
  }
  gc();
  const kept = store.series('i0').length;
  const bytesPerSample = (used() - before) / (per * kept);
  return { mb: (bytesPerSample * instances * kept) / 2 ** 20, bytesPerSample, samples: kept };
}

/** Bare three-stream appends a second by CONNECTIONS clients in this process (see bareAppend). */
async function bareAppendRate(url: string): Promise<number> {
  const pool = createPool(url, { max: CONNECTIONS });
  const store = new EventStore({ pool, registry: platformEvents, connectionString: url });
  try {
    return await timed(CONNECTIONS, SECONDS, bareAppend(store, 'api'));
  } finally {
    await store.close();
    await pool.end();
  }
}

// ---------------------------------------------------------------------------------------------------
// Load

interface Run extends Measured {
  /** Syncs that ran meanwhile (the hourly cron): 0 unless the run crossed the hour. */
  syncsDuring: number;
  /** CPU time the API process used (user + system), in ms. */
  apiCpuMs: number;
  /** How busy the whole machine was (every core), 0–1: the API, PostgreSQL, this process, and anything else. */
  machineBusy: number;
}

/** Saturated: CONNECTIONS clients, each sending its next request as soon as the last is answered. */
const closedLoop = (options: SaturateOptions) =>
  saturate({ connections: CONNECTIONS, duration: SECONDS, ...options });

/** One run, with what it cost the API process and how busy the machine was meanwhile. */
async function measure(api: Api, run: () => Promise<Measured>): Promise<Run> {
  const before = (await platformState(api)).syncs;
  const cpu = processCpuMs(api.child.pid!);
  const machine = machineTicks();
  const measured = await run();
  alive(api);
  const apiCpuMs = processCpuMs(api.child.pid!) - cpu;
  const after = machineTicks();
  return {
    ...measured,
    syncsDuring: (await platformState(api)).syncs - before,
    apiCpuMs,
    machineBusy: (after.busy - machine.busy) / (after.total - machine.total),
  };
}

function loadRows(
  report: BenchReport,
  what: string,
  run: Run,
  extra: BenchRow['params'] = {},
  options: {
    target?: number;
    throughput?: boolean;
    /** The throughput's reference from the same run, and its goal. */
    peer?: { name: string; value: number };
    perSecond?: number;
  } = {},
) {
  const { target, throughput = true, peer, perSecond } = options;
  const params = {
    seconds: SECONDS,
    requests: run.requests,
    ok2xx: run.ok,
    non2xx: run.requests - run.ok - run.errors,
    errors: run.errors,
    statusCodes: Object.entries(run.codes)
      .map(([code, n]) => `${code}×${n}`)
      .join(' '),
    syncsDuring: run.syncsDuring,
    // What one request costs the API process (less sensitive to the machine than latency is), and
    // how loaded the machine was meanwhile.
    apiCpuMsPerRequest: Number((run.apiCpuMs / Math.max(1, run.requests)).toFixed(2)),
    apiCpuCores: Number((run.apiCpuMs / 1000 / run.seconds).toFixed(2)),
    machineBusyPercent: Math.round(run.machineBusy * 100),
    ...extra,
  };
  report.add({ name: `${what}: latency p50`, unit: 'ms', value: run.latency.p50, params });
  report.add({
    name: `${what}: latency p99`,
    unit: 'ms',
    value: run.latency.p99,
    params: { ...params, mean: Number(run.latency.mean.toFixed(2)), max: Math.round(run.latency.max) },
    ...(target === undefined ? {} : { target: { op: '<=' as const, value: target } }),
  });
  if (!throughput) return;
  const rate = run.ok / run.seconds;
  report.add({
    name: `${what}: successful requests/s`,
    unit: 'req/s',
    value: rate,
    params: { ...params, allResponsesPerSecond: Number((run.requests / run.seconds).toFixed(1)) },
    ...(peer ? { peer: { ...peer, ratio: rate / peer.value } } : {}),
    ...(perSecond === undefined ? {} : { target: { op: '>=' as const, value: perSecond } }),
  });
}

// ---------------------------------------------------------------------------------------------------

type Memory = Awaited<ReturnType<typeof memoryOf>>;

/** The API process's memory idle after start and after the load, after more syncs, and an hour of samples. */
async function memoryRows(
  report: BenchReport,
  api: Api,
  adminToken: string,
  seen: { empty: Memory; afterStart: Memory; startSeconds: number; made: number; deleted: number },
): Promise<void> {
  const { empty, afterStart, startSeconds, made, deleted } = seen;
  const afterLoad = await memoryOf(api);
  // Each sync keeps one more resource sample per running instance (an hour of them at most).
  const syncMs: number[] = [];
  for (let i = 0; i < SYNCS; i++) {
    syncMs.push((await trpc<{ ms: number }>(api, 'drift.syncNow', undefined, adminToken)).ms);
  }
  const afterSyncs = SYNCS > 0 ? await memoryOf(api) : afterLoad;
  const common = {
    instances: INSTANCES,
    nodes: NODES,
    users: USERS,
    from: FROM_SOURCE ? 'source, tsx' : 'compiled (tsc)',
  };
  report.add({
    name: `API process RSS, idle after start, ${INSTANCES} instances on ${NODES} nodes${ARGS_NOTE}`,
    unit: 'MB',
    value: afterStart.rss,
    params: { ...common, ...afterStart.params, startSeconds: Number(startSeconds.toFixed(1)) },
    peer: { name: 'empty database', value: empty.rss, ratio: afterStart.rss / empty.rss },
    target: { op: '<=', value: 300 },
  });
  report.add({
    name: `API process RSS, idle after the load${ARGS_NOTE}`,
    unit: 'MB',
    value: afterLoad.rss,
    params: { ...common, ...afterLoad.params, instancesMade: made, instancesDeleted: deleted },
    target: { op: '<=', value: 300 },
  });
  if (SYNCS > 0) {
    report.add({
      // The creates' instances were deleted again: the count they ran with is in the name.
      name: `API process RSS after ${SYNCS} more syncs (one more sample per running instance each), ${INSTANCES + made - deleted} running instances${ARGS_NOTE}`,
      unit: 'MB',
      value: afterSyncs.rss,
      params: { ...common, ...afterSyncs.params, syncMs: syncMs.map((ms) => Math.round(ms)).join(' / ') },
      target: { op: '<=', value: 300 },
    });
  }
  const history = sampleHistory(INSTANCES);
  report.add({
    name: `Memory for an hour of resource samples, ${INSTANCES} running instances (MetricsStore)`,
    unit: 'MB',
    value: history.mb,
    params: {
      samplesPerInstance: history.samples,
      syncIntervalSeconds: defaultConfig.sync['interval-seconds'],
      bytesPerSample: Math.round(history.bytesPerSample),
    },
  });
}

async function main(): Promise<void> {
  const report = new BenchReport('api');
  const started = performance.now();
  const clock = () => `${((performance.now() - started) / 1000).toFixed(0)} s`;
  const db = await openBenchDatabase();
  const dir = await mkdtemp(join(tmpdir(), 'tianqi-api-bench-'));
  const dataDir = join(dir, 'data');
  await mkdir(dataDir);
  const engines = Array.from(
    { length: NODES },
    (_, n) => new StandInDockerEngine(join(dir, `node${n}.sock`), LABEL_INSTANCE),
  );
  let api: Api | undefined;
  let cleaned: Promise<void> | undefined;
  const cleanup = () =>
    (cleaned ??= (async () => {
      if (api) await stopApi(api).catch(() => {});
      await Promise.all(engines.map((e) => e.close().catch(() => {})));
      await db.drop().catch((err: unknown) => console.error('dropping the bench database failed', err));
      await rm(dir, { recursive: true, force: true });
    })());
  const interrupted = () => {
    void cleanup().finally(() => process.exit(130));
  };
  process.once('SIGINT', interrupted);
  process.once('SIGTERM', interrupted);
  try {
    await Promise.all(engines.map((e) => e.listen()));
    console.error(FROM_SOURCE ? 'running the API from source (tsx)' : 'compiling the API (tsc)');
    const entry = await buildApi(join(dir, 'build'));

    // The same process on the empty database: what the instances add to its memory.
    let empty: Memory = { rss: Number.NaN, params: {} as Memory['params'] };
    if (!CREATES_ONLY) {
      console.error(`the API on an empty database (${clock()})`);
      api = startApi(entry, db.url, dataDir, await freePort());
      await settle(api, 0); // no node, so no sync: a server syncs the nodes it holds the lease of
      empty = await memoryOf(api);
      await stopApi(api);
      api = undefined;
    }

    console.error(
      `writing ${INSTANCES.toLocaleString('en')} instances for ${USERS} users on ${NODES} nodes (${clock()})`,
    );
    const seeded = await seedDatabase(db.url, engines, {
      users: USERS,
      instances: INSTANCES,
      nodes: NODES,
      password: PASSWORD,
    });
    const { seedSeconds, projectSeconds } = seeded;
    console.error(
      `  written in ${seedSeconds.toFixed(1)} s, read models built in ${projectSeconds.toFixed(1)} s`,
    );

    // The create's reference: what the store alone allows the same number of clients, measured on the
    // same database before the API starts (its read models then take these events in too, once).
    console.error(`bare 3-stream appends, ${CONNECTIONS} clients (${clock()})`);
    const bareRate = await bareAppendRate(db.url);

    console.error(`starting the API (${clock()})`);
    const t = performance.now();
    api = startApi(entry, db.url, dataDir, await freePort());
    await settle(api, 1);
    const startSeconds = (performance.now() - t) / 1000;
    const afterStart = await memoryOf(api);
    console.error(
      `  reconciler idle and first sync taken in ${startSeconds.toFixed(1)} s; RSS ${afterStart.rss.toFixed(0)} MB`,
    );
    const adminToken = await login(api, ADMIN.username, ADMIN.password);
    const userToken = await login(api, seeded.usernames[0]!, PASSWORD);
    const creatorToken = await login(api, seeded.creator, PASSWORD);

    const listUrl = `${api.base}/api/trpc/instances.list?input=${encodeURIComponent(JSON.stringify({ limit: 50 }))}`;
    const list = async (token: string) => {
      const res = await fetch(listUrl, { headers: { authorization: `Bearer ${token}` } });
      const body = (await res.json()) as { result: { data: { total: number; items: unknown[] } } };
      return body.result.data;
    };
    const adminPage = await list(adminToken);
    const userPage = await list(userToken);
    if (adminPage.total < INSTANCES || adminPage.items.length !== Math.min(50, adminPage.total))
      throw new Error(
        `the admin's list has ${adminPage.total} instances, ${adminPage.items.length} on the page`,
      );

    // Each list twice: 50 clients each sending its next request as soon as the last is answered (the
    // saturated figure: latency there is 50 ÷ throughput), then the same clients paced to RATE
    // requests a second in all (a figure for latency under a steady load the API can carry).
    const auth = (token: string) => ({ authorization: `Bearer ${token}` });
    const lists = [
      { who: `admin, ${adminPage.total} instances`, token: adminToken, total: adminPage.total },
      { who: `user with ${userPage.total} instances`, token: userToken, total: userPage.total },
    ];
    if (!CREATES_ONLY) {
      await closedLoop({ url: listUrl, headers: auth(adminToken), duration: Math.min(2, SECONDS) }); // warm-up
    }
    for (const { who, token, total } of CREATES_ONLY ? [] : lists) {
      const what = `instances.list, ${who}, limit 50, ${CONNECTIONS} clients`;
      console.error(`${what} (${clock()})`);
      const saturated = await measure(api, () => closedLoop({ url: listUrl, headers: auth(token) }));
      loadRows(report, what, saturated, { total }, { target: 50 });
      const paced = await measure(api, () =>
        pace(listUrl, auth(token), { rate: RATE, seconds: SECONDS, connections: CONNECTIONS }),
      );
      loadRows(
        report,
        `${what}, paced to ${RATE} req/s`,
        paced,
        { total, rate: RATE },
        { target: 50, throughput: false },
      );
    }

    console.error(`instances.create, a new name each time, the scheduler choosing the node (${clock()})`);
    let n = 0;
    const createHeaders = { ...auth(creatorToken), 'content-type': 'application/json' };
    const createUrl = `${api.base}/api/trpc/instances.create`;
    const createRun = await measure(api, () =>
      closedLoop({
        url: createUrl,
        method: 'POST',
        headers: createHeaders,
        requests: [
          {
            method: 'POST',
            setupRequest: (req) => ({
              ...req,
              // As the CLI's client sends it: a fresh idempotency key for each mutation.
              headers: { ...createHeaders, 'idempotency-key': randomUUID() },
              body: JSON.stringify({ name: `made-${n++}`, imageId: seeded.imageId, specId: seeded.specId }),
            }),
          },
        ],
      }),
    );
    // no_capacity is 412 (PRECONDITION_FAILED): counted with the other non-2xx, never as a success.
    const noCapacity = createRun.codes['412'] ?? 0;
    loadRows(
      report,
      `instances.create, ${CONNECTIONS} clients`,
      createRun,
      { noCapacity, sent: n },
      { peer: { name: `bare 3-stream append, ${CONNECTIONS} clients`, value: bareRate }, perSecond: 250 },
    );

    await settle(api, 1);
    const made = engines.reduce((sum, e) => sum + (e.calls.get('POST /containers/create') ?? 0), 0);
    console.error(`  reconciler idle after the creates (${made} containers made) (${clock()})`);
    if (!CREATES_ONLY) {
      // The memory target is for INSTANCES running instances: the creates' are deleted again first (what
      // they left in the process, its caches and read models, stays in the figures).
      const deleted = await deleteMade(api, creatorToken, db.url);
      await settle(api, 1);
      console.error(`  ${deleted} instances the creates made deleted again (${clock()})`);
      await memoryRows(report, api, adminToken, { empty, afterStart, startSeconds, made, deleted });
    }

    const unknown = engines.flatMap((e) => e.unknownCalls());
    if (unknown.length > 0)
      console.error(`the stand-in engines were asked for: ${unknown.map(([r, c]) => `${r}×${c}`).join(' ')}`);
    console.error(`done in ${clock()}`);
  } finally {
    process.removeListener('SIGINT', interrupted);
    process.removeListener('SIGTERM', interrupted);
    await cleanup();
  }
  report.finish(process.argv.slice(2), REPO);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
