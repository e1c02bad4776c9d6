import { execFile } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import {
  dockerOverTcp,
  loadTestNodes,
  startThrowawayDockerd,
  type TestNode,
  testNodesDir,
} from '../src/index.js';

const run = promisify(execFile);
const { nodes, images } = loadTestNodes();

/** Runs a throwaway container to completion and returns what it printed. */
async function runOnce(
  docker: Docker,
  image: string,
  cmd: string[],
  extra: Docker.HostConfig = {},
): Promise<string> {
  const container = await docker.createContainer({
    Image: image,
    Cmd: cmd,
    Labels: { 'tianqi.test': 'smoke' },
    HostConfig: { NetworkMode: 'none', ...extra },
  });
  try {
    await container.start();
    await container.wait();
    const logs = await container.logs({ stdout: true, stderr: true });
    // Without a TTY the log stream is multiplexed: 8-byte headers before each frame.
    let out = '';
    for (let i = 0; i + 8 <= logs.length; ) {
      const size = logs.readUInt32BE(i + 4);
      out += logs.subarray(i + 8, i + 8 + size).toString('utf8');
      i += 8 + size;
    }
    return out;
  } finally {
    await container.remove({ force: true, v: true });
  }
}

describe('Docker test nodes', () => {
  it('include at least one mutual-TLS node and one plain TCP node on loopback', () => {
    expect(nodes.length).toBeGreaterThanOrEqual(2);
    expect(nodes.some((n) => n.tls)).toBe(true);
    expect(nodes.some((n) => !n.tls)).toBe(true);
    for (const n of nodes) expect(n.host).toMatch(/^127\.\d+\.\d+\.\d+$/);
  });

  it.each(nodes.map((n) => [n.name, n] as [string, TestNode]))(
    '%s: creates, runs and removes a container over TCP, with sh and bash images',
    async (_name, node) => {
      const docker = dockerOverTcp(node);
      const info = await docker.info();
      expect(info.Name).toBeTruthy();
      expect(await runOnce(docker, images.sh, ['sh', '-c', 'echo hello from $(hostname)'])).toMatch(
        /^hello from \w+/,
      );
      expect(await runOnce(docker, images.bash, ['bash', '-c', 'echo "bash $BASH_VERSINFO"'])).toMatch(
        /^bash \d/,
      );
      const left = await docker.listContainers({ all: true, filters: { label: ['tianqi.test=smoke'] } });
      expect(left).toEqual([]);
    },
  );

  it('gives a container exactly the GPU indices of its device request', async () => {
    for (const node of nodes) {
      const out = await runOnce(
        dockerOverTcp(node),
        images.sh,
        ['sh', '-c', 'echo "$NVIDIA_VISIBLE_DEVICES"'],
        {
          DeviceRequests: [{ Driver: 'nvidia', DeviceIDs: ['1', '3'], Capabilities: [['gpu']] }],
        },
      );
      expect(out.trim()).toBe('1,3');
    }
  });

  it('refuses a client without a certificate on a TLS node', async () => {
    const node = nodes.find((n) => n.tls)!;
    const noCert = new Docker({ protocol: 'https', host: node.host, port: node.port, ca: node.ca });
    await expect(noCert.ping()).rejects.toThrow();
    const plain = new Docker({ protocol: 'http', host: node.host, port: node.port });
    await expect(plain.ping()).rejects.toThrow();
  });

  it('start.sh is safe to run twice: running nodes are kept as they are', async () => {
    const script = fileURLToPath(new URL('../test-nodes/start.sh', import.meta.url));
    const pidOf = (n: TestNode) => readFileSync(join(testNodesDir(), n.name, 'docker.pid'), 'utf8').trim();
    const before = nodes.map(pidOf);
    const nodesJson = readFileSync(join(testNodesDir(), 'nodes.json'), 'utf8');
    await run('bash', [script, String(nodes.length)]);
    expect(nodes.map(pidOf)).toEqual(before);
    expect(readFileSync(join(testNodesDir(), 'nodes.json'), 'utf8')).toBe(nodesJson);
  });
});

describe('stop.sh', () => {
  it('removes every daemon, container and folder that start.sh made, and only those', async () => {
    const dir = `/tmp/tianqi-test-nodes-stop-${process.pid}`;
    const env = { ...process.env, TIANQI_NODES_DIR: dir, TIANQI_NODES_IP_BASE: '90' };
    const start = fileURLToPath(new URL('../test-nodes/start.sh', import.meta.url));
    const stop = fileURLToPath(new URL('../test-nodes/stop.sh', import.meta.url));
    await run('bash', [start, '1'], { env });
    const pid = readFileSync(join(dir, 'node1', 'docker.pid'), 'utf8').trim();
    const docker = new Docker({ socketPath: join(dir, 'node1', 'docker.sock') });
    await docker
      .createContainer({ Image: images.sh, Cmd: ['sleep', '600'], HostConfig: { NetworkMode: 'none' } })
      .then((c) => c.start());
    const otherPids = nodes.map((n) =>
      readFileSync(join(testNodesDir(), n.name, 'docker.pid'), 'utf8').trim(),
    );

    await run('bash', [stop], { env });

    expect(() => process.kill(Number(pid), 0)).toThrow(); // the daemon is gone
    const { stdout } = await run('sh', [
      '-c',
      `ls -d ${dir} 2>/dev/null; grep -c '${dir}' /proc/mounts || true`,
    ]);
    expect(stdout.trim()).toBe('0'); // no folder, no mount left
    for (const p of otherPids) expect(() => process.kill(Number(p), 0)).not.toThrow(); // other nodes untouched
  });
});

/** dockerd processes whose folder is gone: left running by a start that did not clean up after itself. */
function leakedDaemons(): string[] {
  const leaked: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    let args: string[];
    try {
      args = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
    } catch {
      continue; // ended meanwhile
    }
    const root = args[args.indexOf('--data-root') + 1];
    if (args[0]?.endsWith('dockerd') && root?.includes('tianqi-dockerd-') && !existsSync(dirname(root)))
      leaked.push(`${pid} ${root}`);
  }
  return leaked;
}

describe("a throwaway daemon (the fault tests' own)", () => {
  it('is not started without the test images, and one that cannot be set up is stopped and removed', async () => {
    const nodesDir = await mkdtemp(join(tmpdir(), 'tianqi-nodes-broken-'));
    const leakedBefore = leakedDaemons(); // by runs before this one, on a machine not cleaned up
    const before = process.env.TIANQI_NODES_DIR;
    process.env.TIANQI_NODES_DIR = nodesDir;
    try {
      await expect(startThrowawayDockerd({ host: '127.0.0.62' })).rejects.toThrow(
        /no busybox test image in .*: run infra\/test-nodes\/start\.sh/,
      );
      // The daemon starts, then the image cannot be imported.
      await mkdir(join(nodesDir, 'images'));
      await writeFile(join(nodesDir, 'images', 'busybox-v1.tar'), 'not a tar');
      const started = await startThrowawayDockerd({ host: '127.0.0.62' }).then(
        (d) => d,
        (err: Error) => err,
      );
      if (!(started instanceof Error)) await started.stop();
      expect(started).toBeInstanceOf(Error);
      expect(leakedDaemons().filter((d) => !leakedBefore.includes(d))).toEqual([]);
    } finally {
      if (before === undefined) delete process.env.TIANQI_NODES_DIR;
      else process.env.TIANQI_NODES_DIR = before;
      await rm(nodesDir, { recursive: true, force: true });
    }
  }, 120_000);
});
