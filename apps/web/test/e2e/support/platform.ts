import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { AppRouter } from '@tianqi/api/client';
import {
  createTestDatabase,
  freePort,
  loadTestNodes,
  removeLabelledContainers,
  type TestDatabase,
} from '@tianqi/infra';
import { createTRPCClient, httpLink, type TRPCClient } from '@trpc/client';

const TIANQI = fileURLToPath(new URL('../../../../cli/bin/tianqi.js', import.meta.url));
export const ADMIN = { username: 'admin', password: 'admin-password' };

export type Client = TRPCClient<AppRouter>;

export interface RunningTianqi {
  url: string;
  dataDir: string;
  /** What the server printed so far. */
  output(): string;
  /** The admin, signed in as the CLI is (a bearer token), to set the platform up. */
  admin: Client;
  /** A user made by the admin, with `<name>-password`. */
  user(name: string): Promise<void>;
  stop(): Promise<void>;
}

export function client(url: string, token: string | null = null): Client {
  return createTRPCClient<AppRouter>({
    links: [
      httpLink({
        url: `${url}/api/trpc`,
        headers: () => (token ? { authorization: `Bearer ${token}` } : {}),
      }),
    ],
  });
}

/**
 * A real `tianqi start` (the CLI handing over to the server, as the README runs it) on a fresh
 * database and a free port, serving the built web app; stopped with SIGTERM, its containers removed.
 */
export async function startTianqi(
  options: {
    admin?: boolean;
    database?: () => Promise<Pick<TestDatabase, 'url' | 'drop'>>;
    /** Settings over the ones below. */
    env?: Record<string, string>;
  } = {},
): Promise<RunningTianqi> {
  const withAdmin = options.admin ?? true;
  const db = await (options.database ?? createTestDatabase)();
  const dataDir = await mkdtemp(join(tmpdir(), 'tianqi-web-'));
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(process.execPath, [TIANQI, 'start'], {
    env: {
      ...process.env,
      TIANQI_DATABASE_URL: db.url,
      TIANQI_SERVER_HOST: '127.0.0.1',
      TIANQI_SERVER_PORT: String(port),
      TIANQI_DATA_DIR: dataDir,
      TIANQI_LOG_LEVEL: 'warn',
      TIANQI_JUMPBOX_ENABLED: 'false',
      TIANQI_SECRETS_KEY: randomBytes(32).toString('base64'),
      TIANQI_ADMIN_USERNAME: withAdmin ? ADMIN.username : '',
      TIANQI_ADMIN_PASSWORD: withAdmin ? ADMIN.password : '',
      TIANQI_DOCKER_LOCAL_SOCKET: '',
      TIANQI_DOCKER_NETWORK_MODE: 'none',
      TIANQI_DOCKER_STOP_TIMEOUT_SECONDS: '1',
      TIANQI_SYNC_INTERVAL_SECONDS: '5',
      ...options.env,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout?.on('data', (d) => (output += d));
  child.stderr?.on('data', (d) => (output += d));
  for (let waited = 0; ; waited += 200) {
    if (child.exitCode !== null) throw new Error(`tianqi start ended:\n${output}`);
    const ready = await fetch(`${url}/readyz`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) break;
    if (waited > 60_000) throw new Error(`tianqi start did not get ready:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  const token = withAdmin ? (await client(url).auth.login.mutate({ ...ADMIN, via: 'cli' })).token : null;
  const admin = client(url, token);
  return {
    url,
    dataDir,
    output: () => output,
    admin,
    async user(name) {
      await admin.users.create.mutate({ username: name, password: `${name}-password`, role: 'user' });
    },
    async stop() {
      const { rows } = await import('pg').then(async ({ default: pg }) => {
        const c = new pg.Client({ connectionString: db.url });
        await c.connect();
        try {
          return await c.query<{ id: string }>('SELECT id FROM installation');
        } finally {
          await c.end();
        }
      });
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await exited;
      await removeLabelledContainers(`tianqi.installation=${rows[0]?.id}`);
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The catalog the browser tests create from: a TLS GPU node, the bash image (sliceable), three specs. */
export async function gpuCatalog(admin: Client): Promise<void> {
  const testNodes = loadTestNodes();
  const tls = testNodes.nodes.find((n) => n.tls)!;
  const hami = await mkdtemp(join(tmpdir(), 'tianqi-hami-'));
  const { writeFile } = await import('node:fs/promises');
  await writeFile(join(hami, 'libvgpu.so'), ''); // the test nodes are local daemons: this is "on the node"
  const { id: nodeId } = await admin.nodes.register.mutate({
    name: 'gpu-tls',
    region: 'lab',
    cpuCores: 8,
    memoryGb: 16,
    systemDiskGb: 100,
    gpuModel: 'RTX 4090',
    gpuCount: tls.gpuCount,
    vramGbPerGpu: 24,
    dockerAddress: `tcp://${tls.host}:${tls.port}`,
    useTls: true,
    caCert: tls.ca!,
    clientCert: tls.cert!,
    clientKey: tls.key!,
    hamiCoreDir: hami,
  });
  await catalog(admin);
  for (const deadline = Date.now() + 60_000; ; ) {
    if ((await admin.nodes.get.query({ nodeId })).dockerStatus === 'connected') return;
    if (Date.now() > deadline) throw new Error('the GPU test node did not connect');
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The images and specs the browser tests create from: bash (sliceable), busybox; CPU, 1 GPU, a 6 GB slice. */
export async function catalog(admin: Client): Promise<void> {
  const testNodes = loadTestNodes();
  await admin.images.create.mutate({
    name: 'bash',
    address: testNodes.images.bash,
    description: 'bash with coreutils',
    supportsSlicing: true,
  });
  await admin.images.create.mutate({
    name: 'busybox',
    address: testNodes.images.sh,
    description: 'busybox sh',
  });
  const small = { cpuCores: 0.5, memoryGb: 0.5, systemDiskGb: 1 };
  await admin.specs.create.mutate({ name: 'cpu-small', gpuCount: 0, pricePerHour: 0.5, ...small });
  await admin.specs.create.mutate({
    name: 'gpu-1',
    gpuModel: 'RTX 4090',
    gpuCount: 1,
    vramGb: 24,
    pricePerHour: 2.5,
    ...small,
  });
  await admin.specs.create.mutate({
    name: 'slice-6',
    gpuModel: 'RTX 4090',
    gpuCount: 1,
    vramGb: 6,
    slice: true,
    pricePerHour: 1.2,
    ...small,
  });
}
