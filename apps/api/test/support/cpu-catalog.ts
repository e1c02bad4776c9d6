import type { ApiClient } from './api-client.js';

/** What tests and benches of the SSH side all start with: a node, the bash image, a small CPU spec. */
export interface CpuCatalog {
  nodeId: string;
  imageId: string;
  specId: string;
}

/**
 * Registers a plain-TCP Docker test node as `<prefix>-node` (8 cores, 16 GB), the bash test image and a
 * CPU-only spec `<prefix>-cpu`, and answers once the node is connected: registering answers with its
 * connection check, and a check still running then is waited for (60 s at most).
 */
export async function cpuCatalog(
  admin: ApiClient,
  options: {
    prefix: string;
    dockerAddress: string;
    bashImage: string;
    spec?: { cpuCores: number; memoryGb: number; systemDiskGb: number };
  },
): Promise<CpuCatalog> {
  const { id: nodeId, connection } = await admin.nodes.register.mutate({
    name: `${options.prefix}-node`,
    cpuCores: 8,
    memoryGb: 16,
    systemDiskGb: 100,
    dockerAddress: options.dockerAddress,
    useTls: false,
  });
  const imageId = (await admin.images.create.mutate({ name: 'bash', address: options.bashImage })).id;
  const spec = options.spec ?? { cpuCores: 0.5, memoryGb: 0.5, systemDiskGb: 1 };
  const specId = (
    await admin.specs.create.mutate({ name: `${options.prefix}-cpu`, gpuCount: 0, pricePerHour: 1, ...spec })
  ).id;
  let status: string = connection.status;
  for (const deadline = Date.now() + 60_000; status !== 'connected'; ) {
    if (Date.now() > deadline) throw new Error(`test node ${options.dockerAddress}: ${connection.reason}`);
    await new Promise((r) => setTimeout(r, 200));
    status = (await admin.nodes.get.query({ nodeId })).dockerStatus;
  }
  return { nodeId, imageId, specId };
}
