import { loadTestNodes } from '@tianqi/infra';
import Docker from 'dockerode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiFixture, openApi } from './api-fixture.js';
import { containersOf, until } from './docker-fixture.js';
import { type CpuCatalog, cpuCatalog } from './support/cpu-catalog.js';
import { TcpRelay } from './support/tcp-relay.js';

/**
 * The network between the platform and a node cut, while an instance runs there: the platform goes
 * through a relay the test cuts and restores, and the test looks at the node's Docker over its own
 * unix socket, which the cut does not reach.
 */
const plain = loadTestNodes().nodes[1]!;
const images = loadTestNodes().images;
const direct = new Docker({ socketPath: plain.socketPath! });
const relay = new TcpRelay({ host: plain.host, port: plain.port });
let api: ApiFixture;
let catalog: CpuCatalog;

beforeAll(async () => {
  const port = await relay.listen();
  // Connection checks every 2 s, so two of them fail soon after the cut.
  api = await openApi({ sync: { 'interval-seconds': 2 } });
  catalog = await cpuCatalog(api.admin, {
    prefix: 'cut',
    dockerAddress: `tcp://127.0.0.1:${port}`,
    bashImage: images.bash,
  });
}, 120_000);

afterAll(async () => {
  await api?.close();
  await relay.close();
});

const nodeStatus = async () => (await api.admin.nodes.get.query({ nodeId: catalog.nodeId })).dockerStatus;

describe('the network to a node cut', () => {
  it('marks the node failed without touching its running container, and converges once the network is back', async () => {
    const { id } = await api.admin.instances.create.mutate({
      name: 'across-the-cut',
      imageId: catalog.imageId,
      specId: catalog.specId,
    });
    const before = await until('the instance to run', async () => {
      const r = await api.admin.instances.get.query({ instanceId: id });
      return r.observed === 'running' && r.containerId ? r : null;
    });
    const containerId = before.containerId!;
    const startedAt = (await direct.getContainer(containerId).inspect()).State.StartedAt;

    relay.cut();
    await until('the node to be marked failed', async () => (await nodeStatus()) === 'failed', 60_000);
    // Checks go on while it is failed; a couple more of them, and still nothing is done to it.
    const seen = relay.refused;
    await until('two more connection checks', async () => relay.refused >= seen + 2, 60_000);
    const during = await direct.getContainer(containerId).inspect();
    expect(during.State.Running).toBe(true);
    expect(during.State.StartedAt).toBe(startedAt);
    expect((await containersOf(direct, id)).map((c) => c.Id)).toEqual([containerId]);

    relay.restore();
    await until('the node to be connected again', async () => (await nodeStatus()) === 'connected', 60_000);
    const after = await until('the instance to be seen running again', async () => {
      const r = await api.admin.instances.get.query({ instanceId: id });
      return r.observed === 'running' ? r : null;
    });
    expect(after.containerId).toBe(containerId);
    await until('no drift left open', async () =>
      (await api.admin.drift.list.query({})).every((d) => d.instanceId !== id),
    );
    const containers = await containersOf(direct, id);
    expect(containers.map((c) => c.Id)).toEqual([containerId]);
    const last = await direct.getContainer(containerId).inspect();
    expect(last.State.Running).toBe(true);
    expect(last.State.StartedAt).toBe(startedAt);
    expect(last.RestartCount).toBe(0);
  }, 180_000);
});
