import type { CommandContext } from '../src/commands/index.js';
import { connectedNode, image, signUp, spec, system, type TestPlatform } from './platform-fixture.js';

/**
 * A platform's life in miniature, through the real commands: users, nodes, images and specs, then
 * instances that are created, run, stopped, restarted, fail, and are deleted and removed, by several
 * workers at once. Returns how many instances were made.
 */
export async function runWorkload(
  p: TestPlatform,
  options: { instances: number; workers?: number; prefix?: string },
) {
  const prefix = options.prefix ?? 'w';
  const users: CommandContext[] = [];
  for (let i = 0; i < 4; i++) users.push(await signUp(p, `${prefix}user${i}`));
  const nodes = [
    await connectedNode(p, { name: `${prefix}-a`, gpuCount: 8 }),
    await connectedNode(p, { name: `${prefix}-b`, gpuCount: 8, hamiCoreDir: '/opt/hami' }),
    await connectedNode(p, { name: `${prefix}-c`, gpuCount: 0, gpuModel: null, vramGbPerGpu: 0 }),
  ];
  const imageId = await image(p, { name: `${prefix}-img`, address: 'busybox', supportsSlicing: true });
  const base = { cpuCores: 1, memoryGb: 2, systemDiskGb: 10 };
  const specs = [
    await spec(p, {
      name: `${prefix}-g1`,
      gpuModel: 'RTX 4090',
      gpuCount: 1,
      vramGb: 24,
      pricePerHour: 2,
      ...base,
    }),
    await spec(p, {
      name: `${prefix}-s6`,
      gpuModel: 'RTX 4090',
      gpuCount: 1,
      vramGb: 6,
      slice: true,
      pricePerHour: 0.6,
      ...base,
    }),
    await spec(p, { name: `${prefix}-cpu`, gpuCount: 0, pricePerHour: 0.1, ...base }),
  ];
  await p.commands.catalog.updateSpec(specs[2]!, { pricePerHour: 0.15 }, system);
  await p.commands.nodes.update(nodes[2]!, { remark: 'cpu only' }, system);
  await p.settle();

  let next = 0;
  let failed = false;
  const worker = async (w: number) => {
    for (let n = next++; n < options.instances && !failed; n = next++) {
      const owner = users[n % users.length]!;
      const created = await p.commands.instances.create(
        { name: `${prefix}-${n}`, imageId, specId: specs[n % specs.length]!, remark: `worker ${w}` },
        owner,
      );
      const id = created.id;
      const record = (o: Parameters<typeof p.commands.instances.record>[1]) =>
        p.commands.instances.record(id, o, system);
      if (n % 11 === 5) {
        await record({ type: 'RecordInstanceFailed', phase: 'create', reason: `pull failed ${n}` });
      } else {
        await record({
          type: 'RecordContainerCreated',
          containerId: Buffer.from(id).toString('hex').slice(0, 24),
          containerName: `${prefix}-${n}-${id}-1760000000`,
        });
        await record({ type: 'RecordContainerStarted' });
        if (n % 3 === 0) {
          await p.commands.instances.request(id, 'StopInstance', owner);
          await record({ type: 'RecordContainerExited', exitCode: 0, oomKilled: false });
          await p.commands.instances.request(id, 'StartInstance', owner);
          await record({ type: 'RecordContainerStarted' });
        }
        if (n % 4 === 0) {
          await p.commands.instances.request(id, 'RestartInstance', owner);
          await record({ type: 'RecordContainerRestarted', restart: 1 });
        }
        if (n % 7 === 0) await record({ type: 'RecordContainerExited', exitCode: 137, oomKilled: true });
      }
      // Most are deleted (freeing capacity for the rest); some CPU ones stay, to keep the read models varied.
      if (!(n % 3 === 2 && n % 5 === 0)) {
        await p.commands.instances.request(id, 'DeleteInstance', owner);
        await record({ type: 'RecordContainerRemoved' });
        await record({ type: 'RecordVolumesRemoved', volumes: [`tianqi-${id}-data`] });
      }
    }
  };
  // Every worker stops at the first failure, so nothing goes on appending after the test has ended.
  const outcomes = await Promise.allSettled(
    Array.from({ length: options.workers ?? 6 }, (_, w) =>
      worker(w).catch((err: unknown) => {
        failed = true;
        throw err;
      }),
    ),
  );
  for (const o of outcomes) if (o.status === 'rejected') throw o.reason;
  return { users, nodes, specs, imageId };
}
