import { randomBytes } from 'node:crypto';
import { specDemand, streams } from '@tianqi/domain';
import { createPool, EventStore, eventStoreMigrations, migrate } from '@tianqi/events';
import {
  type PlatformStore,
  ProjectionRunner,
  platformEvents,
  projectionMigrations,
} from '@tianqi/projections';
import { AggregateLoader, aggregates } from '../commands/aggregates.js';
import { newId } from '../commands/ids.js';
import { type CommandContext, createCommands, metadataOf, systemContext } from '../commands/index.js';
import { type Batch, claimName } from '../commands/names.js';
import { apiMigrations } from '../database/connect.js';
import { installationId } from '../docker/installation.js';
import { containerRecipe } from '../reconciler/container-recipe.js';
import { hashPassword } from '../security/passwords.js';
import { SecretBox } from '../security/secrets.js';

// The benchmarks' seeding (`@tianqi/api/bench-seed`): the API bench and the web bench both start the
// platform on 10,000 instances. It needs the commands' internals, so it lives here, but nothing the
// server runs imports it.

export { LABEL_INSTANCE } from '../docker/labels.js';

/**
 * Where a seeded node's containers are listed: the test kit's StandInDockerEngine (infra's bench kit,
 * which this package may not import; it fits this shape).
 */
export interface SeedEngine {
  readonly socketPath: string;
  add(container: {
    Id: string;
    Names: string[];
    Image: string;
    State: 'running';
    Status: string;
    Created: number;
    Labels: Record<string, string>;
  }): void;
}

export interface SeedCounts {
  users: number;
  instances: number;
  /** As many as `engines`: node n is served by engines[n]. */
  nodes: number;
  /** Every seeded user's password. */
  password: string;
}

export interface Seeded {
  imageId: string;
  specId: string;
  nodeIds: string[];
  usernames: string[];
  /** A user with no instances, for the creates under load. */
  creator: string;
}

/**
 * What the API bench starts from, written in bulk through the same deciders the commands use (the
 * commands one at a time would take minutes for 10,000 instances): users (one password hash shared by
 * all: made once, argon2 takes ~60 ms), an image, a CPU-only spec, large connected nodes, then the
 * instances, running: per (node, owner) one transaction for the creations (node allocations +
 * instances + name claims, as the owner) and one for their containers being created and started (as
 * the reconciler), each container put in its node's stand-in engine as the reconciler would make it.
 * test/bench-seed.test.ts checks these events against what the commands themselves write.
 */
export async function seed(store: PlatformStore, engines: SeedEngine[], counts: SeedCounts): Promise<Seeded> {
  const { users, instances, nodes, password } = counts;
  const system = systemContext('bench');
  const commands = createCommands(store, new SecretBox(randomBytes(32)));
  const loader = new AggregateLoader(store);
  const installation = await installationId(store.pool);
  const passwordHash = await hashPassword(password);
  const usernames = Array.from({ length: users }, (_, u) => `bench${u}`);
  const creator = 'bench-creator';
  const userIds: string[] = [];
  for (const [i, username] of [...usernames, creator].entries()) {
    const userId = newId();
    if (i < users) userIds.push(userId);
    await store.appendMany(
      [
        {
          streamId: streams.user(userId),
          expectedVersion: 'no_stream',
          events: aggregates.user.decide(
            { type: 'RegisterUser', userId, username, role: 'user', passwordHash },
            aggregates.user.initial,
          ),
        },
        await claimName(loader, 'user', username, userId),
      ],
      { metadata: metadataOf(system) },
    );
  }
  const imageId = (await commands.catalog.registerImage({ name: 'bench', address: 'busybox' }, system)).id;
  const specId = (
    await commands.catalog.createSpec(
      { name: 'cpu-small', gpuCount: 0, cpuCores: 0.5, memoryGb: 1, systemDiskGb: 10, pricePerHour: 0.1 },
      system,
    )
  ).id;
  const image = (await loader.load(streams.image(imageId), aggregates.image)).state;
  const spec = (await loader.load(streams.spec(specId), aggregates.spec)).state;
  const demand = specDemand(spec);
  // At most what a node may declare: room for the 10,000 and for ~14,000 more creates of this spec.
  const nodeIds: string[] = [];
  for (let n = 0; n < nodes; n++) {
    const { id } = await commands.nodes.register(
      {
        name: `bench-${n}`,
        cpuCores: 4096,
        memoryGb: 65_536,
        systemDiskGb: 1_048_576,
        gpuCount: 0,
        dockerAddress: `unix://${engines[n]!.socketPath}`,
        useTls: false,
      },
      system,
    );
    await commands.nodes.recordDockerStatus(id, 'connected', '', system);
    nodeIds.push(id);
  }

  const reconciler: CommandContext = systemContext('reconciler');
  const fill = async (n: number) => {
    const nodeId = nodeIds[n]!;
    for (let u = 0; u < users; u++) {
      const ownerId = userIds[u]!;
      const node = await loader.load(streams.node(nodeId), aggregates.node);
      let nodeState = node.state;
      const nodeEvents: Batch['events'][number][] = [];
      const created: Batch[] = [];
      const started: Batch[] = [];
      const claims: Promise<Batch>[] = [];
      // Instance k belongs to user k % users and lives on node k % nodes.
      for (let k = u; k < instances; k += users) {
        if (k % nodes !== n) continue;
        const instanceId = newId();
        const name = `inst-${k}`;
        const granted = aggregates.node.decide(
          { type: 'AllocateResources', instanceId, spec: demand },
          nodeState,
        );
        nodeState = granted.reduce(aggregates.node.evolve, nodeState);
        nodeEvents.push(...granted);
        const allocation = (granted[0] as Extract<(typeof granted)[0], { type: 'ResourcesAllocated' }>).data
          .allocation;
        const made = aggregates.instance.decide(
          {
            type: 'CreateInstance',
            instanceId,
            name,
            ownerId,
            remark: '',
            image: { imageId: image.imageId, name: image.name, address: image.address },
            spec: { ...demand, specId: spec.specId, name: spec.name, pricePerHour: spec.pricePerHour },
            node: { nodeId, name: nodeState.name },
            allocation,
          },
          aggregates.instance.initial,
        );
        let state = made.reduce(aggregates.instance.evolve, aggregates.instance.initial);
        const containerId = randomBytes(32).toString('hex');
        const createdAt = Math.floor(Date.now() / 1000) - 7200;
        // As the reconciler would have made it two hours ago: its name and labels from the recipe.
        const recipe = containerRecipe(state, {
          now: new Date(createdAt * 1000),
          hamiCoreDir: null,
          networkMode: 'none',
          installation,
        });
        const containerName = recipe.name!;
        const containerMade = aggregates.instance.decide(
          { type: 'RecordContainerCreated', containerId, containerName },
          state,
        );
        state = containerMade.reduce(aggregates.instance.evolve, state);
        const containerStarted = aggregates.instance.decide({ type: 'RecordContainerStarted' }, state);
        created.push({ streamId: streams.instance(instanceId), expectedVersion: 'no_stream', events: made });
        started.push({
          streamId: streams.instance(instanceId),
          expectedVersion: made.length,
          events: [...containerMade, ...containerStarted],
        });
        claims.push(claimName(loader, `instance.${ownerId}`, name, instanceId));
        engines[n]!.add({
          Id: containerId,
          Names: [`/${containerName}`],
          Image: recipe.Image!,
          State: 'running',
          Status: 'Up 2 hours',
          Created: createdAt,
          Labels: recipe.Labels ?? {},
        });
      }
      if (created.length === 0) continue;
      const owner: CommandContext = { actor: { kind: 'user', userId: ownerId, role: 'user' } };
      await store.appendMany(
        [
          { streamId: streams.node(nodeId), expectedVersion: node.version, events: nodeEvents },
          ...created,
          ...(await Promise.all(claims)),
        ],
        { metadata: metadataOf(owner) },
      );
      await store.appendMany(started, { metadata: metadataOf(reconciler) });
    }
  };
  await Promise.all(nodeIds.map((_, n) => fill(n)));
  return { imageId, specId, nodeIds, usernames, creator };
}

/**
 * A platform database from nothing: migrated, seeded, and its read models built up to the last event,
 * so a server started on it next serves every seeded row at once. Returns how long each step took.
 */
export async function seedDatabase(
  url: string,
  engines: SeedEngine[],
  counts: SeedCounts,
): Promise<Seeded & { seedSeconds: number; projectSeconds: number }> {
  const pool = createPool(url, { max: 10 });
  const store = new EventStore({ pool, registry: platformEvents, connectionString: url });
  try {
    await migrate(pool, [eventStoreMigrations, projectionMigrations, apiMigrations]);
    let t = performance.now();
    const seeded = await seed(store, engines, counts);
    const seedSeconds = (performance.now() - t) / 1000;
    t = performance.now();
    const runner = new ProjectionRunner({ store });
    await runner.start();
    await runner.waitFor(await store.head());
    await runner.stop();
    return { ...seeded, seedSeconds, projectSeconds: (performance.now() - t) / 1000 };
  } finally {
    await store.close();
    await pool.end();
  }
}

/**
 * A long past for the audit log: the seeded events copied in SQL until the log holds `rows` entries,
 * each copy under its own stream ids (`instance-<id>y<n>`, …) and dated over the year before the seed,
 * oldest first. The copies go into the events table and the audit log only: every read model is told
 * it has seen them (its checkpoint moved past them), as if those instances had come and gone long ago,
 * so a server started next reads a year of history without replaying it. Returns how long it took.
 */
export async function seedAuditHistory(
  url: string,
  rows: number,
): Promise<{ rows: number; seconds: number }> {
  const pool = createPool(url, { max: 1 });
  const t = performance.now();
  const client = await pool.connect();
  try {
    await client.query('BEGIN');
    const { rows: counted } = await client.query<{ n: string; last: string }>(
      'SELECT count(*) AS n, max(position) AS last FROM events',
    );
    const have = Number(counted[0]!.n);
    const last = counted[0]!.last;
    const copies = Math.max(0, Math.ceil((rows - have) / have));
    if (copies > 0) {
      await client.query(
        `INSERT INTO events (stream_id, stream_version, type, data, metadata, recorded_at)
         SELECT e.stream_id || 'y' || g, e.stream_version, e.type, e.data, e.metadata,
                now() - interval '366 days' + interval '365 days' * ((g - 1) * $2::float8 + e.rn) / ($1::float8 * $2)
         FROM (SELECT *, row_number() OVER (ORDER BY position) AS rn FROM events) e,
              generate_series(1, $1::int) g
         ORDER BY g, e.position
         LIMIT $3`,
        [copies, have, rows - have],
      );
      // The same columns the audit log's projection writes (read-models/audit-log.ts).
      await client.query(
        `INSERT INTO rm.audit_log
         SELECT position, type, metadata->>'actorUserId', date_trunc('milliseconds', recorded_at),
                CASE WHEN stream_id LIKE 'instance-%' THEN substr(stream_id, 10)
                     WHEN type = 'ResourcesAllocated' THEN data->'allocation'->>'instanceId'
                     WHEN type = 'ResourcesReleased' THEN data->>'instanceId' END
         FROM events WHERE position > $1`,
        [last],
      );
      await client.query(
        `UPDATE projection_checkpoints c SET transaction_id = h.transaction_id, position = h.position
         FROM (SELECT transaction_id, position FROM events ORDER BY transaction_id DESC, position DESC LIMIT 1) h`,
      );
    }
    await client.query('COMMIT');
    await client.query('ANALYZE events');
    await client.query('ANALYZE rm.audit_log');
    const { rows: total } = await client.query<{ n: string }>('SELECT count(*) AS n FROM rm.audit_log');
    return { rows: Number(total[0]!.n), seconds: (performance.now() - t) / 1000 };
  } catch (err) {
    await client.query('ROLLBACK').catch(() => {});
    throw err;
  } finally {
    client.release();
    await pool.end();
  }
}

/**
 * The export's reference: the same rows (the audit log joined to its events, with their data) read
 * straight from PostgreSQL, `limit` of them in one query. Returns rows per second.
 */
export async function auditRowsPerSecondInPostgres(url: string, limit: number): Promise<number> {
  const pool = createPool(url, { max: 1 });
  try {
    const t = performance.now();
    const { rowCount } = await pool.query(
      `SELECT a.*, e.stream_id, e.stream_version, e.metadata, e.data FROM rm.audit_log a
       JOIN events e ON e.position = a.position ORDER BY a.position LIMIT $1`,
      [limit],
    );
    return (rowCount ?? 0) / ((performance.now() - t) / 1000);
  } finally {
    await pool.end();
  }
}
