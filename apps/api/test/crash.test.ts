import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createPool, EventStore } from '@tianqi/events';
import { dockerOverTcp, freePort, loadTestNodes } from '@tianqi/infra';
import { platformEvents } from '@tianqi/projections';
import { afterAll, describe, expect, it } from 'vitest';
import { createCommands, systemContext } from '../src/commands/index.js';
import { SecretBox } from '../src/security/secrets.js';
import { containersOf, until } from './docker-fixture.js';
import { openPlatform } from './platform-fixture.js';

const BIN = fileURLToPath(new URL('../bin/tianqi-server.js', import.meta.url));
const children: ChildProcess[] = [];
afterAll(() => {
  for (const c of children) c.kill('SIGKILL');
});

describe('a crash of the API in the middle of a create', () => {
  it('killed while the container is being made, a restarted API ends with exactly one container', async () => {
    const test = loadTestNodes().nodes[1]!; // plain TCP
    const docker = dockerOverTcp(test);
    const key = randomBytes(32).toString('base64');
    const p = await openPlatform();
    const dataDir = await mkdtemp(join(tmpdir(), 'tianqi-crash-'));
    const ownPool = createPool(p.db.url, { max: 4 });
    const start = async () => {
      const port = await freePort();
      const child = spawn(process.execPath, [BIN, 'start'], {
        env: {
          ...process.env,
          PORT: String(port),
          TIANQI_JUMPBOX_ENABLED: 'false',
          DATABASE_URL: p.db.url,
          TIANQI_DATA_DIR: dataDir,
          TIANQI_SECRETS_KEY: key,
          TIANQI_DOCKER_LOCAL_SOCKET: '',
          TIANQI_DOCKER_NETWORK_MODE: 'none',
          TIANQI_LOG_LEVEL: 'warn',
        },
        stdio: 'ignore',
      });
      children.push(child);
      return child;
    };
    try {
      // The platform's data, written as the API would (same secrets key).
      const commands = createCommands(
        new EventStore({ pool: ownPool, registry: platformEvents }),
        new SecretBox(Buffer.from(key, 'base64')),
      );
      const ctx = systemContext('test');
      const { id: nodeId } = await commands.nodes.register(
        {
          name: 'crash-node',
          cpuCores: 8,
          memoryGb: 16,
          systemDiskGb: 10,
          dockerAddress: `tcp://${test.host}:${test.port}`,
          useTls: false,
        },
        ctx,
      );
      await commands.nodes.recordDockerStatus(nodeId, 'connected', '', ctx);
      const imageId = (
        await commands.catalog.registerImage({ name: 'crash-img', address: loadTestNodes().images.sh }, ctx)
      ).id;
      const specId = (
        await commands.catalog.createSpec(
          { name: 'crash-cpu', gpuCount: 0, cpuCores: 0.5, memoryGb: 0.5, systemDiskGb: 1, pricePerHour: 0 },
          ctx,
        )
      ).id;
      const { id: userId } = await commands.users.register(
        { username: 'crasher', password: 'crasher-password' },
        ctx,
      );
      const owner = { actor: { kind: 'user' as const, userId, role: 'user' as const } };

      const first = await start();
      const { id } = await commands.instances.create({ name: 'crashy', imageId, specId, nodeId }, owner);
      // The moment its container exists, the API dies: before it can record or start it, or just after.
      await until('the container to appear', async () => (await containersOf(docker, id)).length > 0, 60_000);
      first.kill('SIGKILL');
      await new Promise((resolve) => first.once('exit', resolve));

      const second = await start();
      await until(
        'the instance to run',
        async () => (await commands.instances.get(id))?.observed === 'running',
        60_000,
      );
      const containers = await containersOf(docker, id);
      expect(containers).toHaveLength(1);
      expect(containers[0]!.State).toBe('running');
      expect((await commands.instances.get(id))!.containerId).toBe(containers[0]!.Id);
      second.kill('SIGTERM');
      await new Promise((resolve) => second.once('exit', resolve));
      for (const c of containers) await docker.getContainer(c.Id).remove({ force: true, v: true });
    } finally {
      await ownPool.end();
      await p.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 180_000);
});
