import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { loadTestNodes } from '@tianqi/infra';
import { expect } from 'vitest';
import { client, type RunningTianqi } from './platform.js';

/** A user's instance of the bash image on the CPU spec, once Docker runs it, and the user's client. */
export async function runningInstance(tianqi: RunningTianqi, username: string, name: string) {
  const { token } = await client(tianqi.url).auth.login.mutate({
    username,
    password: `${username}-password`,
    via: 'cli',
  });
  const user = client(tianqi.url, token);
  const image = (await user.images.list.query()).find((i) => i.name === 'bash')!;
  const spec = (await user.specs.list.query()).find((s) => s.name === 'cpu-small')!;
  const { id } = await user.instances.create.mutate({ name, imageId: image.imageId, specId: spec.specId });
  await expect
    .poll(async () => (await user.instances.get.query({ instanceId: id })).observed, { timeout: 60_000 })
    .toBe('running');
  return { instanceId: id, user };
}

/** `docker stop` on the TLS test node (where gpuCatalog's node is) behind the platform's back. */
export async function dockerStop(containerId: string): Promise<void> {
  const node = loadTestNodes().nodes.find((n) => n.tls)!;
  await promisify(execFile)('docker', ['-H', `unix://${node.socketPath}`, 'stop', '-t', '1', containerId]);
}
