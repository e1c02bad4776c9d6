import { dockerOverTcp, loadTestNodes } from '@tianqi/infra';
import { beforeAll, describe, expect, it } from 'vitest';
import { systemContext } from '../src/commands/index.js';
import { useApi } from './api-fixture.js';
import { catalogOn, dockerCli, historyOf, registerOn, shown, shownAs } from './docker-events-fixture.js';
import { until } from './docker-fixture.js';

// The sync would look only once an hour: what is recorded here within the test came from the events.
// Under "report" a killed container stays exited (drift shown, not healed), so each state can be read.
const api = useApi({ sync: { 'interval-seconds': 3600, 'drift-policy': 'report' } });
const testNodes = loadTestNodes();
const test = testNodes.nodes[0]!; // mutual TLS
const other = testNodes.nodes[1]!; // plain TCP
const system = systemContext('test');
let catalog: Awaited<ReturnType<typeof catalogOn>>;
let nodeId: string;

beforeAll(async () => {
  const { platform } = api();
  catalog = await catalogOn(platform, testNodes.images.sh);
  nodeId = await registerOn(platform, test);
  await until('the node to be followed', async () => platform.followers.connected > 0);
  await until(
    'the node to be connected',
    async () => (await platform.commands.nodes.get(nodeId))?.dockerStatus === 'connected',
  );
}, 60_000);
async function running(name: string, on = nodeId) {
  const { platform } = api();
  const { id } = await platform.commands.instances.create(
    { name, imageId: catalog.imageId, specId: catalog.specId, nodeId: on },
    catalog.owner,
  );
  const row = await shownAs(platform, id, (r) => r.observed === 'running', 'running');
  return { id, containerId: row.container_id! };
}

const exitsOf = async (id: string) =>
  (await historyOf(api().platform, id)).filter((e) => e.type === 'ContainerExited');

describe('Docker events followed on a node', () => {
  it('a `docker kill` by hand is shown as exited with its exit code, recorded from the event, not by a sync', async () => {
    const { platform } = api();
    const inst = await running('killed_by_hand');
    const syncsBefore = platform.sync.last;
    await dockerCli(test, 'kill', inst.containerId);
    const row = await shownAs(platform, inst.id, (r) => r.observed === 'exited', 'exited');
    expect(row).toMatchObject({ exit_code: 137, oom_killed: false });
    expect(platform.sync.last).toBe(syncsBefore); // no sync ran meanwhile
    const history = await historyOf(platform, inst.id);
    expect(history.filter((e) => e.type === 'ContainerExited')).toEqual([
      { type: 'ContainerExited', data: { exitCode: 137, oomKilled: false }, by: 'system:docker-events' },
    ]);
    // Drift as the sync would record it, before the exit (so "report" holds the reconciler back).
    const drift = history.findIndex((e) => e.type === 'DriftDetected' && e.data.kind === 'exited');
    expect(drift).toBeGreaterThan(-1);
    expect(drift).toBeLessThan(history.findIndex((e) => e.type === 'ContainerExited'));
  });

  it('a `docker stop` by hand is shown as exited with its code', async () => {
    const { platform } = api();
    const inst = await running('stopped_by_hand');
    await dockerCli(test, 'stop', '-t', '1', inst.containerId);
    // The image's shell, as PID 1, ignores SIGTERM: Docker kills it after the second.
    expect(await shownAs(platform, inst.id, (r) => r.observed === 'exited', 'exited')).toMatchObject({
      exit_code: 137,
    });
    expect((await exitsOf(inst.id)).map((e) => e.by)).toEqual(['system:docker-events']);
  });

  it('a container killed for running out of memory is shown as exited and OOM-killed', async () => {
    const { platform } = api();
    const inst = await running('out_of_memory');
    // The limit lowered by hand, then the container's own shell (PID 1) made to hold more than it.
    await dockerCli(test, 'update', '--memory', '16m', '--memory-swap', '16m', inst.containerId);
    const stdin = await dockerOverTcp(test)
      .getContainer(inst.containerId)
      .attach({ stream: true, stdin: true, stdout: true, stderr: true, hijack: true });
    stdin.write('x=$(head -c 200m /dev/zero | tr "\\0" a)\n');
    const row = await shownAs(platform, inst.id, (r) => r.observed === 'exited', 'exited', 60_000);
    stdin.end();
    expect(row).toMatchObject({ exit_code: 137, oom_killed: true });
    expect(await exitsOf(inst.id)).toEqual([
      { type: 'ContainerExited', data: { exitCode: 137, oomKilled: true }, by: 'system:docker-events' },
    ]);
  });

  it('recorded once when the sync sees the same change, even when it looks at the same moment', async () => {
    const { platform } = api();
    const inst = await running('seen_twice');
    const kinds = async () => {
      const history = await historyOf(platform, inst.id);
      const count = (type: string) => history.filter((e) => e.type === type).length;
      return {
        exited: count('ContainerExited'),
        drift: count('DriftDetected'),
        over: count('DriftResolved'),
      };
    };
    for (let round = 1; round <= 3; round++) {
      // Both look: the sync right as the container dies, and once more after the event's look.
      await Promise.all([dockerCli(test, 'kill', inst.containerId), platform.sync.runOnce()]);
      await shownAs(platform, inst.id, (r) => r.observed === 'exited', 'exited');
      await platform.sync.runOnce();
      await platform.sync.runOnce();
      expect(await kinds()).toEqual({ exited: round, drift: round, over: round - 1 });
      // "Converge now": started again, and the next look closes the drift.
      platform.reconciler.converge([inst.id]);
      await shownAs(platform, inst.id, (r) => r.observed === 'running', 'running');
      await platform.sync.runOnce();
      expect(await kinds()).toEqual({ exited: round, drift: round, over: round });
    }
  });

  it('follows the nodes there are: one registered with a wrong address, fixed, unlisted, then deleted', async () => {
    const { platform } = api();
    const added = await registerOn(platform, other, { dockerAddress: 'tcp://127.0.0.1:9' });
    await until('the new node to be followed', async () => platform.followers.nodeIds.includes(added));
    await platform.commands.nodes.update(
      added,
      { dockerAddress: `tcp://${other.host}:${other.port}` },
      system,
    );
    await until('both streams open', async () => platform.followers.connected === 2);
    await until(
      'the fixed node to be connected',
      async () => (await platform.commands.nodes.get(added))?.dockerStatus === 'connected',
    );
    const inst = await running('on_the_fixed_node', added);
    // Unlisted, it takes no new instances, but what it holds is still followed.
    await platform.commands.nodes.update(added, { listed: false }, system);
    await dockerCli(other, 'kill', inst.containerId);
    expect(await shownAs(platform, inst.id, (r) => r.observed === 'exited', 'exited')).toMatchObject({
      exit_code: 137,
    });
    await platform.commands.instances.request(inst.id, 'DeleteInstance', catalog.owner);
    await shownAs(platform, inst.id, (r) => r.observed === 'removed', 'removed');
    await until(
      'the volumes removed',
      async () => (await platform.commands.instances.get(inst.id))?.volumesRemoved,
    );
    await platform.commands.nodes.delete(added, system);
    await until('the node no longer followed', async () => !platform.followers.nodeIds.includes(added));
    expect(platform.followers.connected).toBe(1);
    expect(await shown(platform, inst.id)).toMatchObject({ observed: 'removed' });
  });
});
