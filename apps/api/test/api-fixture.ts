import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createTestDatabase, freePort, removeLabelledContainers, type TestDatabase } from '@tianqi/infra';
import pino from 'pino';
import { afterAll, beforeAll } from 'vitest';
import { type Config, configSchema } from '../src/config/schema.js';
import { type RunningPlatform, startPlatform } from '../src/platform.js';
import { type ApiClient, createApiClient } from './support/api-client.js';

export const ADMIN = { username: 'admin', password: 'admin-password' };

/** A spec small enough for any test node: half a core, half a GiB, no GPU. */
export const smallSpec = (name: string) => ({
  name,
  gpuCount: 0,
  cpuCores: 0.5,
  memoryGb: 0.5,
  systemDiskGb: 1,
  pricePerHour: 0.1,
});

export interface ApiFixture {
  url: string;
  platform: RunningPlatform;
  /** Signed out. */
  anon: ApiClient;
  /** Signs in over HTTP (as the CLI does) and returns the token and a client that uses it. */
  login(username: string, password: string): Promise<{ token: string; client: ApiClient; userId: string }>;
  /** A new user made by the admin through the API, signed in. */
  user(
    username: string,
    role?: 'admin' | 'user',
  ): Promise<{ token: string; client: ApiClient; userId: string }>;
  admin: ApiClient;
  adminToken: string;
  /** How many events the log holds. */
  eventCount(): Promise<number>;
  /** Another API server on the same database (as with several behind a load balancer). */
  secondServer(): Promise<{ url: string; platform: RunningPlatform; close(): Promise<void> }>;
  close(): Promise<void>;
}

type ConfigInput = Parameters<typeof configSchema.parse>[0];

/** A whole platform (`tianqi start` in-process) on a fresh database and a free port, and API clients. */
export async function openApi(over: Record<string, unknown> = {}): Promise<ApiFixture> {
  const db: TestDatabase = await createTestDatabase();
  const dataDir = await mkdtemp(join(tmpdir(), 'tianqi-api-'));
  const port = await freePort();
  const base = {
    server: { host: '127.0.0.1', port },
    'data-dir': dataDir,
    database: { url: db.url, 'pool-size': 20 },
    log: { level: 'silent' },
    jumpbox: { enabled: false },
    secrets: { key: randomBytes(32).toString('base64') },
    admin: ADMIN,
    sync: { 'interval-seconds': 60 },
    docker: { 'local-socket': '', 'network-mode': 'none', 'stop-timeout-seconds': 1 },
  };
  const config: Config = configSchema.parse(merge(base, over) as ConfigInput);
  const platform = await startPlatform(config, pino({ level: 'silent' }));
  const url = `http://127.0.0.1:${port}`;
  const login = async (username: string, password: string) => {
    const { token, user } = await createApiClient(url).auth.login.mutate({ username, password, via: 'cli' });
    return { token: token!, client: createApiClient(url, token), userId: user.userId };
  };
  // With `admin: { username: '' }` the platform starts with no admin (the first run).
  const admin = config.admin.username ? await login(ADMIN.username, ADMIN.password) : null;
  const configured = () => {
    if (!admin) throw new Error('this platform was started with no admin');
    return admin;
  };
  return {
    url,
    platform,
    anon: createApiClient(url),
    login,
    get admin() {
      return configured().client;
    },
    get adminToken() {
      return configured().token;
    },
    async user(username, role = 'user') {
      await configured().client.users.create.mutate({ username, password: `${username}-password`, role });
      return login(username, `${username}-password`);
    },
    async eventCount() {
      const { rows } = await platform.database.pool.query<{ n: number }>(
        'SELECT count(*)::int AS n FROM events',
      );
      return rows[0]!.n;
    },
    async secondServer() {
      const otherPort = await freePort();
      const otherDir = await mkdtemp(join(tmpdir(), 'tianqi-api-'));
      const other = await startPlatform(
        { ...config, server: { ...config.server, port: otherPort }, 'data-dir': otherDir },
        pino({ level: 'silent' }),
      );
      return {
        url: `http://127.0.0.1:${otherPort}`,
        platform: other,
        close: async () => {
          await other.stop();
          await rm(otherDir, { recursive: true, force: true });
        },
      };
    },
    async close() {
      // The containers this platform made on the test nodes go with it (found by its installation label).
      const { rows } = await platform.database.pool.query<{ id: string }>('SELECT id FROM installation');
      await platform.stop();
      await removeLabelledContainers(`tianqi.installation=${rows[0]!.id}`);
      await db.drop();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

function merge(a: Record<string, unknown>, b: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) {
    const prev = out[k];
    out[k] =
      v && typeof v === 'object' && !Array.isArray(v) && prev && typeof prev === 'object'
        ? merge(prev as Record<string, unknown>, v as Record<string, unknown>)
        : v;
  }
  return out;
}

/** One platform for a test file. */
export function useApi(over: Record<string, unknown> = {}): () => ApiFixture {
  let fixture: ApiFixture | undefined;
  beforeAll(async () => {
    fixture = await openApi(over);
  }, 60_000);
  afterAll(async () => {
    await fixture?.close();
  });
  return () => fixture!;
}
