import type { TestNode } from '@tianqi/infra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { useApi } from './api-fixture.js';
import { catalogOn, dockerCli, historyOf, registerOn, shownAs } from './docker-events-fixture.js';
import { until } from './docker-fixture.js';
import { ownDaemon } from './own-daemon.js';

// The address just past the shared nodes' (node1 to node3 and node-btrfs take base + 1 to 4).
const daemon = ownDaemon({
  suffix: 'events',
  ipBase: Number(process.env.TIANQI_NODES_IP_BASE ?? 20) + 4,
  btrfs: false,
});
const api = useApi({ sync: { 'interval-seconds': 3600, 'drift-policy': 'report' } });
let test: TestNode;
let image: string;

beforeAll(async () => {
  ({ node: test, imageSh: image } = await daemon.start());
}, 120_000);
afterAll(async () => {
  await daemon.remove();
});

const reconnects = async () => {
  const metric = await api().platform.services.metrics.dockerEventReconnects.get();
  return metric.values[0]?.value ?? 0;
};

describe('the Docker event stream of a node whose daemon restarts', () => {
  it('is followed again once the daemon is back, and a later `docker kill` is shown at once', async () => {
    const { platform } = api();
    const catalog = await catalogOn(platform, image);
    const nodeId = await registerOn(platform, test);
    await until(
      'the node to be connected',
      async () => (await platform.commands.nodes.get(nodeId))?.dockerStatus === 'connected',
    );
    const { id } = await platform.commands.instances.create(
      { name: 'outlives_a_restart', imageId: catalog.imageId, specId: catalog.specId, nodeId },
      catalog.owner,
    );
    await shownAs(platform, id, (r) => r.observed === 'running', 'running');
    await until('the stream to be open', async () => platform.followers.connected === 1);

    await daemon.stop();
    await until('the stream to be seen broken', async () => platform.followers.connected === 0);
    await daemon.start();
    await until('the stream to be open again', async () => platform.followers.connected === 1);
    expect(await reconnects()).toBeGreaterThan(0);

    // The daemon stopped the container as it went down: seen once the stream is back.
    const down = await shownAs(platform, id, (r) => r.observed === 'exited', 'exited with the daemon');
    expect(down.exit_code).not.toBeNull();
    expect((await historyOf(platform, id)).filter((e) => e.type === 'ContainerExited').at(-1)?.by).toBe(
      'system:docker-events',
    );
    // Started again ("converge now"), then killed.
    platform.reconciler.converge([id]);
    const row = await shownAs(platform, id, (r) => r.observed === 'running', 'running again');
    const exitsBefore = (await historyOf(platform, id)).filter((e) => e.type === 'ContainerExited').length;
    await dockerCli(test, 'kill', row.container_id!);
    expect(await shownAs(platform, id, (r) => r.observed === 'exited', 'exited')).toMatchObject({
      exit_code: 137,
    });
    const exits = (await historyOf(platform, id)).filter((e) => e.type === 'ContainerExited');
    expect(exits).toHaveLength(exitsBefore + 1);
    expect(exits.at(-1)).toMatchObject({ data: { exitCode: 137 }, by: 'system:docker-events' });
  }, 120_000);
});
