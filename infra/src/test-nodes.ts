import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import Docker from 'dockerode';

/** One Docker test node started by infra/test-nodes/start.sh. */
export interface TestNode {
  name: string;
  host: string;
  port: number;
  tls: boolean;
  socketPath: string;
  gpuCount: number;
  /** PEM contents, for TLS nodes. */
  ca?: string;
  cert?: string;
  key?: string;
}

export interface TestNodes {
  nodes: TestNode[];
  /**
   * node-btrfs (start.sh, unless TIANQI_NODES_BTRFS=0): plain TCP, its data root a loop-mounted btrfs
   * with quotas on, so Docker's `size` storage option really limits a container's disk. Not in `nodes`.
   */
  btrfs?: TestNode;
  /** Local test images: `sh` has only busybox, `bash` has bash too. */
  images: { sh: string; bash: string };
}

export function testNodesDir(): string {
  return process.env.TIANQI_NODES_DIR ?? '/tmp/tianqi-test-nodes';
}

/** The running test nodes with their addresses and certificates. */
export function loadTestNodes(): TestNodes {
  const file = join(testNodesDir(), 'nodes.json');
  if (!existsSync(file)) {
    throw new Error(
      `no Docker test nodes at ${file}: start them with \`sudo bash infra/test-nodes/start.sh\` (npm test does this)`,
    );
  }
  const raw = JSON.parse(readFileSync(file, 'utf8')) as {
    nodes: (Omit<TestNode, 'ca' | 'cert' | 'key'> & { ca?: string; cert?: string; key?: string })[];
    images: TestNodes['images'];
    btrfs?: TestNode;
  };
  return {
    images: raw.images,
    btrfs: raw.btrfs,
    nodes: raw.nodes.map((n) => ({
      ...n,
      ca: n.ca ? readFileSync(n.ca, 'utf8') : undefined,
      cert: n.cert ? readFileSync(n.cert, 'utf8') : undefined,
      key: n.key ? readFileSync(n.key, 'utf8') : undefined,
    })),
  };
}

/** A Docker client that reaches the node over TCP, as the platform will (mutual TLS when the node has it). */
export function dockerOverTcp(node: TestNode): Docker {
  return node.tls
    ? new Docker({
        protocol: 'https',
        host: node.host,
        port: node.port,
        ca: node.ca,
        cert: node.cert,
        key: node.key,
      })
    : new Docker({ protocol: 'http', host: node.host, port: node.port });
}

/**
 * Removes from every test node the containers carrying `label` (with their anonymous volumes): what
 * a test's platform made there, whatever state the test ended in. Without test nodes, nothing to do.
 */
export async function removeLabelledContainers(label: string): Promise<void> {
  let nodes: TestNode[] = [];
  try {
    nodes = loadTestNodes().nodes;
  } catch {
    return;
  }
  for (const node of nodes) {
    const docker = dockerOverTcp(node);
    const found = await docker.listContainers({ all: true, filters: { label: [label] } }).catch(() => []);
    for (const c of found)
      await docker
        .getContainer(c.Id)
        .remove({ force: true, v: true })
        .catch(() => {});
  }
}
