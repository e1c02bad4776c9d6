import { loadTestNodes } from '@tianqi/infra';
import { describe, expect, it } from 'vitest';
import { smallSpec, useApi } from './api-fixture.js';
import { until } from './docker-fixture.js';

// The scheduler keeps the list of nodes it chooses from between creates (it changes only when a node
// is registered or deleted): a node registered after that list was first read is offered at once.
const api = useApi();
const testNodes = loadTestNodes();

describe('the nodes a create chooses from', () => {
  it('include a node registered after earlier creates, for the very next create', async () => {
    const a = api();
    const register = async (name: string, cpuCores: number, node: { host: string; port: number }) => {
      const { id } = await a.admin.nodes.register.mutate({
        name,
        cpuCores,
        memoryGb: 4,
        systemDiskGb: 20,
        dockerAddress: `tcp://${node.host}:${node.port}`,
        useTls: false,
      });
      await until(
        `${name} connected`,
        async () => (await a.admin.nodes.get.query({ nodeId: id })).dockerStatus === 'connected',
      );
      return id;
    };
    const small = await register('one-core', 1, testNodes.nodes[1]!);
    const imageId = (await a.admin.images.create.mutate({ name: 'busybox', address: testNodes.images.sh }))
      .id;
    const specId = (await a.admin.specs.create.mutate({ ...smallSpec('one-core'), cpuCores: 1 })).id;
    const carol = await a.user('carol');
    const first = await carol.client.instances.create.mutate({ name: 'first', imageId, specId });
    expect(first.nodeId).toBe(small);
    // The only node is full now.
    await expect(carol.client.instances.create.mutate({ name: 'refused', imageId, specId })).rejects.toThrow(
      /full or unreachable/,
    );

    const big = await register('four-cores', 4, testNodes.btrfs!);
    const second = await carol.client.instances.create.mutate({ name: 'second', imageId, specId });
    expect(second.nodeId).toBe(big);
  }, 60_000);
});
