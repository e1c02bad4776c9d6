import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { TestNode } from '@tianqi/infra';
import { systemContext } from '../src/commands/index.js';
import type { RunningPlatform } from '../src/platform.js';
import { nodeInputOf, until } from './docker-fixture.js';

const run = promisify(execFile);
const system = systemContext('test');

/** The docker CLI on a test node's own socket, as someone at the node would type it. */
export async function dockerCli(node: TestNode, ...args: string[]): Promise<string> {
  return (await run('docker', ['-H', `unix://${node.socketPath}`, ...args])).stdout.trim();
}

/** What a user and an admin set up once on a whole running platform: an owner, an image, a small spec. */
export async function catalogOn(platform: RunningPlatform, image: string) {
  const { commands } = platform;
  const { id: userId } = await commands.users.register(
    { username: 'eventsowner', password: 'eventsowner-password', role: 'user' },
    system,
  );
  const owner = { actor: { kind: 'user' as const, userId, role: 'user' as const }, ip: '127.0.0.1' };
  const { id: imageId } = await commands.catalog.registerImage({ name: 'events-sh', address: image }, system);
  const { id: specId } = await commands.catalog.createSpec(
    { name: 'events-cpu', gpuCount: 0, cpuCores: 0.5, memoryGb: 0.5, systemDiskGb: 1, pricePerHour: 0 },
    system,
  );
  return { owner, imageId, specId };
}

/** A test node registered on a whole platform; its connection is the platform's to check. */
export async function registerOn(
  platform: RunningPlatform,
  test: TestNode,
  over: Record<string, unknown> = {},
) {
  const input = nodeInputOf(test, { name: `events-${test.name}`, ...over });
  return (await platform.commands.nodes.register(input, system)).id;
}

/** The instance's row in the read model: what the web app and the CLI show. */
export async function shown(platform: RunningPlatform, instanceId: string) {
  const { rows } = await platform.database.pool.query<{
    observed: string;
    exit_code: number | null;
    oom_killed: boolean;
    container_id: string | null;
  }>('SELECT observed, exit_code, oom_killed, container_id FROM rm.instances WHERE instance_id = $1', [
    instanceId,
  ]);
  return rows[0] ?? null;
}

/** Waits until the read model shows the instance so. */
export function shownAs(
  platform: RunningPlatform,
  instanceId: string,
  want: (row: NonNullable<Awaited<ReturnType<typeof shown>>>) => boolean,
  what: string,
  ms = 30_000,
) {
  return until(
    `instance ${instanceId} to be shown ${what}`,
    async () => {
      const row = await shown(platform, instanceId);
      return row && want(row) ? row : null;
    },
    ms,
  );
}

/** The instance's history: each event's type, data and who recorded it. */
export async function historyOf(platform: RunningPlatform, instanceId: string) {
  return (await platform.store.readStream(`instance-${instanceId}`)).map((e) => ({
    type: e.type,
    data: e.data as Record<string, unknown>,
    by: e.metadata.actorUserId,
  }));
}
