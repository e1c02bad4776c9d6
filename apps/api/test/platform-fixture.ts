import { randomBytes } from 'node:crypto';
import { createPool, EventStore, eventStoreMigrations, type GlobalPosition, migrate } from '@tianqi/events';
import { createTestDatabase, type TestDatabase } from '@tianqi/infra';
import {
  type PlatformStore,
  ProjectionRunner,
  platformEvents,
  projectionMigrations,
} from '@tianqi/projections';
import type pg from 'pg';
import { afterAll, beforeAll } from 'vitest';
import { type CommandContext, type Commands, createCommands, systemContext } from '../src/commands/index.js';
import type { NodeInput } from '../src/commands/nodes.js';
import { apiMigrations } from '../src/database/connect.js';
import { SecretBox } from '../src/security/secrets.js';

export interface TestPlatform {
  db: TestDatabase;
  pool: pg.Pool;
  store: PlatformStore;
  runner: ProjectionRunner;
  commands: Commands;
  /** The command side of another server on the same database: its own caches and locks. */
  otherServer(): Commands;
  secrets: SecretBox;
  /** Waits until every read model has what the store holds now. */
  settle(): Promise<void>;
  close(): Promise<void>;
}

/** The command side and the read models, as the server runs them, on a fresh database of its own. */
export async function openPlatform(poolSize = 30): Promise<TestPlatform> {
  const db = await createTestDatabase();
  const pool = createPool(db.url, { max: poolSize });
  await migrate(pool, [eventStoreMigrations, projectionMigrations, apiMigrations]);
  const store = new EventStore({ pool, registry: platformEvents, connectionString: db.url });
  const runner = new ProjectionRunner({ store });
  await runner.start();
  const secrets = new SecretBox(randomBytes(32));
  const commands = createCommands(store, secrets);
  return {
    db,
    pool,
    store,
    runner,
    commands,
    otherServer: () => createCommands(store, secrets),
    secrets,
    settle: async () => runner.waitFor(await lastCommitted(pool)),
    close: async () => {
      await runner.stop();
      await store.close();
      await pool.end();
      await db.drop();
    },
  };
}

/**
 * The newest committed event. Not store.head(), which stops before any transaction still running
 * (the runner's own, say), and so can be older than what a command just wrote.
 */
async function lastCommitted(pool: pg.Pool): Promise<GlobalPosition> {
  const { rows } = await pool.query<{ t: string; p: string }>(
    'SELECT transaction_id::text AS t, position::text AS p FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1',
  );
  return rows[0]
    ? { transactionId: BigInt(rows[0].t), position: BigInt(rows[0].p) }
    : { transactionId: 0n, position: 0n };
}

/** One platform for a test file. */
export function usePlatform(poolSize?: number): () => TestPlatform {
  let platform: TestPlatform | undefined;
  beforeAll(async () => {
    platform = await openPlatform(poolSize);
  });
  afterAll(async () => {
    await platform?.close();
  });
  return () => platform!;
}

export const system = systemContext('test');

/** A registered user and the context of their requests. */
export async function signUp(
  p: TestPlatform,
  username: string,
  role: 'admin' | 'user' = 'user',
): Promise<CommandContext & { actor: { kind: 'user'; userId: string; role: 'admin' | 'user' } }> {
  const { id } = await p.commands.users.register(
    { username, password: `${username}-password`, role },
    system,
  );
  return { actor: { kind: 'user', userId: id, role }, ip: '127.0.0.1' };
}

export const gpuNode = (over: Partial<NodeInput> = {}): NodeInput => ({
  name: `gpu-${randomBytes(3).toString('hex')}`,
  region: 'cn-east',
  cpuCores: 128,
  memoryGb: 1024,
  systemDiskGb: 2000,
  dataDiskGb: 8000,
  gpuModel: 'RTX 4090',
  gpuCount: 8,
  vramGbPerGpu: 24,
  dockerAddress: 'tcp://127.0.0.1:2376',
  useTls: false,
  ...over,
});

/** A node registered and seen connected, as the sync would record it. */
export async function connectedNode(p: TestPlatform, over: Partial<NodeInput> = {}): Promise<string> {
  const { id } = await p.commands.nodes.register(gpuNode(over), system);
  await p.commands.nodes.recordDockerStatus(id, 'connected', '', system);
  return id;
}

/** A spec made by an admin; its id. */
export async function spec(
  p: TestPlatform,
  fields: Parameters<Commands['catalog']['createSpec']>[0],
): Promise<string> {
  return (await p.commands.catalog.createSpec(fields, system)).id;
}

/** An image registered by an admin; its id. */
export async function image(
  p: TestPlatform,
  fields: Parameters<Commands['catalog']['registerImage']>[0],
): Promise<string> {
  return (await p.commands.catalog.registerImage(fields, system)).id;
}

/** Records the streams read through the store (the caches' misses) until `restore()`. */
export function watchStreamReads(store: PlatformStore): { reads: string[]; restore: () => void } {
  const reads: string[] = [];
  const readStream = store.readStream.bind(store);
  store.readStream = (streamId, options) => {
    reads.push(streamId);
    return readStream(streamId, options);
  };
  const restore = () => {
    store.readStream = readStream;
  };
  return { reads, restore };
}
