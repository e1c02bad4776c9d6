import type { TestNode } from '@tianqi/infra';
import type { Commands } from '../src/commands/index.js';
import { systemContext } from '../src/commands/index.js';

const system = systemContext('bench');

/** A test node registered for a benchmark, roomy enough for what it runs there, and seen connected. */
export async function registerBenchNode(
  commands: Commands,
  t: TestNode,
  room: { cpuCores: number; memoryGb: number; systemDiskGb: number },
): Promise<string> {
  const { id } = await commands.nodes.register(
    {
      name: `bench-${t.name}`,
      ...room,
      dockerAddress: `tcp://${t.host}:${t.port}`,
      useTls: t.tls,
      caCert: t.ca ?? null,
      clientCert: t.cert ?? null,
      clientKey: t.key ?? null,
    },
    system,
  );
  await commands.nodes.recordDockerStatus(id, 'connected', '', system);
  return id;
}

/** The image and the small CPU-only spec a benchmark's instances are made of. */
export async function benchCatalog(
  commands: Commands,
  image: string,
): Promise<{ imageId: string; specId: string }> {
  const { id: imageId } = await commands.catalog.registerImage({ name: 'bench-sh', address: image }, system);
  const { id: specId } = await commands.catalog.createSpec(
    { name: 'bench-cpu', gpuCount: 0, cpuCores: 0.5, memoryGb: 0.5, systemDiskGb: 1, pricePerHour: 0 },
    system,
  );
  return { imageId, specId };
}
