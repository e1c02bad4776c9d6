import {
  createTestDatabase,
  dockerOverTcp,
  loadTestNodes,
  removeLabelledContainers,
  type TestDatabase,
} from '@tianqi/infra';
import type Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_INSTALLATION, LABEL_INSTANCE } from '../src/docker/labels.js';
import { until } from './docker-fixture.js';
import { type ApiClient, createApiClient } from './support/api-client.js';
import { CLUSTER_ADMIN, ReplicaCluster } from './support/replica-cluster.js';

// Three `tianqi start` processes on one PostgreSQL and the real Docker test nodes, as behind a load
// balancer: every replica serves everything, each node's work runs on the replica holding its lease.
const tests = loadTestNodes();
let db: TestDatabase;
let cluster: ReplicaCluster;
let installation: string;
const nodes: { id: string; docker: Docker }[] = [];
let imageId: string;
let specId: string;

const login = async (url: string, username: string, password: string) => {
  const { token } = await createApiClient(url).auth.login.mutate({ username, password, via: 'cli' });
  return token!;
};
const clientsFor = (token: string) => cluster.replicas.map((r) => createApiClient(r.url, token));
const codeOf = (p: Promise<unknown>) =>
  p.then(
    () => 'ok',
    (err: { data?: { code?: string } }) => err.data?.code ?? String(err),
  );

/** Docker's own `create` events for an instance's label, on a node, between two moments. */
async function createEvents(docker: Docker, instanceId: string, since: number, to: number): Promise<number> {
  const stream = (await docker.getEvents({
    since,
    until: to,
    filters: JSON.stringify({
      event: ['create'],
      type: ['container'],
      label: [`${LABEL_INSTANCE}=${instanceId}`],
    }),
  } as never)) as unknown as NodeJS.ReadableStream;
  let text = '';
  for await (const chunk of stream) text += chunk.toString();
  return text.split('\n').filter((line) => line.trim() !== '').length;
}

const containersOf = (docker: Docker, label: string) =>
  docker.listContainers({ all: true, filters: { label: [label] } });

beforeAll(async () => {
  db = await createTestDatabase();
  cluster = new ReplicaCluster(db.url, { TIANQI_SYNC_INTERVAL_SECONDS: '60' });
  for (let i = 0; i < 3; i++) await cluster.start();
  const admin = createApiClient(
    cluster.replicas[0]!.url,
    await login(cluster.replicas[0]!.url, CLUSTER_ADMIN.username, CLUSTER_ADMIN.password),
  );
  for (const t of tests.nodes.slice(0, 3)) {
    const { id } = await admin.nodes.register.mutate({
      name: `replica-${t.name}`,
      cpuCores: 32,
      memoryGb: 64,
      systemDiskGb: 500,
      dockerAddress: `tcp://${t.host}:${t.port}`,
      useTls: t.tls,
      caCert: t.ca ?? null,
      clientCert: t.cert ?? null,
      clientKey: t.key ?? null,
    });
    nodes.push({ id, docker: dockerOverTcp(t) });
  }
  imageId = (await admin.images.create.mutate({ name: 'sh', address: tests.images.sh })).id;
  specId = (
    await admin.specs.create.mutate({
      name: 'tiny',
      gpuCount: 0,
      cpuCores: 0.5,
      memoryGb: 0.5,
      systemDiskGb: 1,
      pricePerHour: 1,
    })
  ).id;
  for (const username of ['renter', 'guessed'])
    await admin.users.create.mutate({ username, password: `${username}-password`, role: 'user' });
  const { rows } = await cluster.pool.query<{ id: string }>('SELECT id FROM installation');
  installation = rows[0]!.id;
}, 180_000);

afterAll(async () => {
  await cluster?.close();
  if (installation) await removeLabelledContainers(`${LABEL_INSTALLATION}=${installation}`);
  await db?.drop();
}, 120_000);

describe('three replicas on one PostgreSQL', () => {
  it("each holds one node's lease: the fleet is shared out evenly", async () => {
    const held = await until('every replica to hold one node', async () => {
      const h = await cluster.holders();
      const counts = cluster.replicas.map(
        (r) => (h.get(r.id) ?? []).filter((n) => n.startsWith('node:')).length,
      );
      return counts.every((c) => c === 1) ? h : null;
    });
    const owned = [...held.values()].flat().sort();
    expect(owned).toEqual(nodes.map((n) => `node:${n.id}`).sort());
  });

  it('a user signed out on one replica is refused on the others at once', async () => {
    const token = await login(cluster.replicas[0]!.url, 'renter', 'renter-password');
    const [a, b, c] = clientsFor(token) as [ApiClient, ApiClient, ApiClient];
    // Looked up (and kept for a few seconds) on every replica first.
    for (const client of [a, b, c]) expect(await codeOf(client.instances.list.query({}))).toBe('ok');
    await b.auth.logout.mutate();
    expect(await codeOf(a.instances.list.query({}))).toBe('UNAUTHORIZED');
    expect(await codeOf(c.instances.list.query({}))).toBe('UNAUTHORIZED');
  });

  it('a lockout counts the failed sign-ins made on every replica', async () => {
    const [a, b, c] = cluster.replicas.map((r) => createApiClient(r.url)) as [
      ApiClient,
      ApiClient,
      ApiClient,
    ];
    // Signed in from here once (on one replica): the address is known to the name on all of them.
    await a.auth.login.mutate({ username: 'guessed', password: 'guessed-password', via: 'cli' });
    const wrong = (client: ApiClient, i: number) =>
      codeOf(client.auth.login.mutate({ username: 'guessed', password: `wrong-${i}`, via: 'cli' }));
    // auth.max-failures is 5: two here, two there, one on the third — none of them saw five.
    for (const [i, client] of [a, a, b, b, c].entries()) expect(await wrong(client, i)).toBe('UNAUTHORIZED');
    for (const client of [a, b, c]) {
      expect(
        await codeOf(
          client.auth.login.mutate({ username: 'guessed', password: 'guessed-password', via: 'cli' }),
        ),
      ).toBe('TOO_MANY_REQUESTS');
    }
  }, 60_000);

  it('60 creates spread over the replicas end with exactly 60 containers, one per instance', async () => {
    const admin = clientsFor(
      await login(cluster.replicas[1]!.url, CLUSTER_ADMIN.username, CLUSTER_ADMIN.password),
    );
    const ids: string[] = [];
    for (let batch = 0; batch < 6; batch++) {
      const made = await Promise.all(
        Array.from({ length: 10 }, (_, k) => {
          const i = batch * 10 + k;
          // Through every replica, for every node: most creates land on a replica that does not own the node.
          return admin[i % 3]!.instances.create.mutate({
            name: `spread-${i}`,
            imageId,
            specId,
            nodeId: nodes[Math.floor(i / 3) % 3]!.id,
          });
        }),
      );
      ids.push(...made.map((m) => m.id));
    }
    await until(
      'all 60 to run',
      async () => {
        const { items } = await admin[2]!.instances.list.query({ limit: 500 });
        const mine = items.filter((i) => ids.includes(i.instanceId));
        return mine.length === 60 && mine.every((i) => i.observed === 'running');
      },
      300_000,
    );
    const all = (
      await Promise.all(nodes.map((n) => containersOf(n.docker, `${LABEL_INSTALLATION}=${installation}`)))
    ).flat();
    expect(all).toHaveLength(60);
    expect(new Set(all.map((c) => c.Labels[LABEL_INSTANCE])).size).toBe(60);
  }, 400_000);

  it("killed with creates in flight, a node's owner hands them to a survivor: one container and one Docker create each", async () => {
    const node = nodes[1]!;
    const lease = `node:${node.id}`;
    const owner = cluster.byId((await cluster.holderOf(lease))!);
    const other = cluster.replicas.find((r) => r !== owner)!;
    const user = createApiClient(other.url, await login(other.url, 'renter', 'renter-password'));
    const since = Math.floor(Date.now() / 1000) - 1;
    const ids = (
      await Promise.all(
        Array.from({ length: 6 }, (_, i) =>
          user.instances.create.mutate({ name: `inflight-${i}`, imageId, specId, nodeId: node.id }),
        ),
      )
    ).map((m) => m.id);
    // The owner has begun: a first container exists (others being made), and then it dies.
    await until(
      'the owner to start creating',
      async () =>
        (await containersOf(node.docker, `${LABEL_INSTALLATION}=${installation}`)).some((c) =>
          ids.includes(c.Labels[LABEL_INSTANCE]!),
        ),
      60_000,
    );
    await cluster.kill(owner);

    const survivor = await until(
      'a survivor to take the node over',
      async () => {
        const holder = await cluster.holderOf(lease);
        return holder && holder !== owner.id ? holder : null;
      },
      60_000,
    );
    expect(cluster.replicas.filter((r) => r !== owner).map((r) => r.id)).toContain(survivor);
    await until(
      'the in-flight instances to run',
      async () => {
        const rows = await Promise.all(ids.map((instanceId) => user.instances.get.query({ instanceId })));
        return rows.every((r) => r.observed === 'running');
      },
      120_000,
    );
    const to = Math.floor(Date.now() / 1000) + 1;
    for (const id of ids) {
      expect(await containersOf(node.docker, `${LABEL_INSTANCE}=${id}`)).toHaveLength(1);
      expect(await createEvents(node.docker, id, since, to)).toBe(1);
    }
  }, 300_000);
});
