import { execFile } from 'node:child_process';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { type TestNode, testNodesDir } from '@tianqi/infra';
import { until } from './docker-fixture.js';

const run = promisify(execFile);
const NODES = fileURLToPath(new URL('../../../infra/test-nodes/', import.meta.url));

/**
 * A test node of a file's own (its own folder and loopback address), so stopping its daemon
 * disturbs no other test file: started and stopped with infra/test-nodes' scripts.
 */
export function ownDaemon(options: { suffix: string; ipBase: number; btrfs?: boolean }) {
  const env = {
    ...process.env,
    TIANQI_NODES_DIR: `${testNodesDir()}-${options.suffix}`,
    TIANQI_NODES_IP_BASE: String(options.ipBase),
    ...(options.btrfs === false ? { TIANQI_NODES_BTRFS: '0' } : {}),
  };
  return {
    /** Starts the daemon (again); the first time, answers the node and the `sh` image. */
    async start(): Promise<{ node: TestNode; imageSh: string }> {
      await run('bash', [join(NODES, 'start.sh'), '1'], { env });
      const raw = JSON.parse(await readFile(join(env.TIANQI_NODES_DIR, 'nodes.json'), 'utf8'));
      const n = raw.nodes[0];
      const node: TestNode = {
        ...n,
        ca: await readFile(n.ca, 'utf8'),
        cert: await readFile(n.cert, 'utf8'),
        key: await readFile(n.key, 'utf8'),
      };
      return { node, imageSh: raw.images.sh };
    },
    /** Stops the daemon (SIGTERM, as a service manager would) and waits until it is gone. */
    async stop(): Promise<void> {
      const pidfile = join(env.TIANQI_NODES_DIR, 'node1', 'docker.pid');
      const pid = Number((await readFile(pidfile, 'utf8')).trim());
      process.kill(pid, 'SIGTERM');
      await until('the daemon to stop', async () => {
        try {
          process.kill(pid, 0);
          return false;
        } catch {
          return true;
        }
      });
    },
    /** Stops it and its folder's other daemons for good. */
    async remove(): Promise<void> {
      await run('bash', [join(NODES, 'stop.sh')], { env });
    },
  };
}
