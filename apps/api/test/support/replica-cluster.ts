import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@tianqi/infra';
import pg from 'pg';

const BIN = fileURLToPath(new URL('../../bin/tianqi-server.js', import.meta.url));

export const CLUSTER_ADMIN = { username: 'admin', password: 'admin-password' };

/** One `tianqi start` of the cluster: its own HTTP and jumpbox ports and data-dir, the shared database. */
export interface Replica {
  /** Its name among the replicas (host and HTTP port, the default). */
  id: string;
  url: string;
  port: number;
  jumpboxPort: number;
  child: ChildProcess;
  output(): string;
  exited: Promise<void>;
}

/**
 * Several `tianqi start` processes (the built server) on one PostgreSQL, as behind a load balancer:
 * same secrets key, each with its own ports and data-dir. Stopped (SIGKILL for what is left) by close.
 */
export class ReplicaCluster {
  readonly replicas: Replica[] = [];
  readonly pool: pg.Pool;
  readonly #key = randomBytes(32).toString('base64');
  readonly #dirs: string[] = [];

  constructor(
    readonly databaseUrl: string,
    private readonly env: Record<string, string> = {},
  ) {
    this.pool = new pg.Pool({ connectionString: databaseUrl, max: 4 });
  }

  async start(): Promise<Replica> {
    const [port, jumpboxPort] = [await freePort(), await freePort()];
    const dataDir = await mkdtemp(join(tmpdir(), 'tianqi-replica-'));
    this.#dirs.push(dataDir);
    const child = spawn(process.execPath, [BIN, 'start'], {
      env: {
        ...process.env,
        PORT: String(port),
        TIANQI_SERVER_HOST: '127.0.0.1',
        TIANQI_JUMPBOX_HOST: '127.0.0.1',
        TIANQI_JUMPBOX_PORT: String(jumpboxPort),
        DATABASE_URL: this.databaseUrl,
        TIANQI_DATA_DIR: dataDir,
        TIANQI_SECRETS_KEY: this.#key,
        TIANQI_ADMIN_USERNAME: CLUSTER_ADMIN.username,
        TIANQI_ADMIN_PASSWORD: CLUSTER_ADMIN.password,
        TIANQI_DOCKER_LOCAL_SOCKET: '',
        TIANQI_DOCKER_NETWORK_MODE: 'none',
        TIANQI_DOCKER_STOP_TIMEOUT_SECONDS: '1',
        TIANQI_LOG_LEVEL: 'warn',
        ...this.env,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout!.on('data', (d) => (out += d));
    child.stderr!.on('data', (d) => (out += d));
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    const replica: Replica = {
      id: `${hostname()}:${port}`,
      url: `http://127.0.0.1:${port}`,
      port,
      jumpboxPort,
      child,
      output: () => out,
      exited,
    };
    this.replicas.push(replica);
    for (let i = 0; ; i++) {
      if (child.exitCode !== null) throw new Error(`replica exited early:\n${out}`);
      const ready = await fetch(`${replica.url}/readyz`).then(
        (r) => r.ok,
        () => false,
      );
      if (ready) return replica;
      if (i > 600) throw new Error(`replica did not get ready:\n${out}`);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Live leases by holder: replica id → lease names. */
  async holders(): Promise<Map<string, string[]>> {
    const { rows } = await this.pool.query<{ name: string; replica: string }>(
      'SELECT name, replica FROM leases WHERE incarnation IS NOT NULL AND expires_at > now() ORDER BY name',
    );
    const out = new Map<string, string[]>();
    for (const r of rows) out.set(r.replica, [...(out.get(r.replica) ?? []), r.name]);
    return out;
  }

  /** Who holds a lease now (null: nobody, or it expired). */
  async holderOf(lease: string): Promise<string | null> {
    const { rows } = await this.pool.query<{ replica: string }>(
      'SELECT replica FROM leases WHERE name = $1 AND incarnation IS NOT NULL AND expires_at > now()',
      [lease],
    );
    return rows[0]?.replica ?? null;
  }

  byId(id: string): Replica {
    const r = this.replicas.find((x) => x.id === id);
    if (!r) throw new Error(`no replica ${id}`);
    return r;
  }

  async kill(replica: Replica): Promise<void> {
    replica.child.kill('SIGKILL');
    await replica.exited;
  }

  async close(): Promise<void> {
    for (const r of this.replicas)
      if (r.child.exitCode === null && r.child.signalCode === null) r.child.kill('SIGTERM');
    await Promise.race([
      Promise.all(this.replicas.map((r) => r.exited)),
      new Promise((r) => setTimeout(r, 15_000)),
    ]);
    for (const r of this.replicas) r.child.kill('SIGKILL');
    await this.pool.end();
    for (const d of this.#dirs) await rm(d, { recursive: true, force: true });
  }
}
