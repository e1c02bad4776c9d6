import type { InstanceState } from '@tianqi/domain';
import { dockerOverTcp, type TestNode } from '@tianqi/infra';
import type Docker from 'dockerode';
import pino from 'pino';
import type { NodeInput } from '../src/commands/nodes.js';
import { LABEL_INSTANCE } from '../src/docker/labels.js';
import { Reconciler, type ReconcilerOptions } from '../src/reconciler/reconciler.js';
import { system, type TestPlatform } from './platform-fixture.js';

/** What an admin enters to register the test node (TLS with its certificates, or plain TCP). */
export function nodeInputOf(test: TestNode, over: Record<string, unknown> = {}): NodeInput {
  return {
    name: `rec-${test.name}`,
    cpuCores: 16,
    memoryGb: 64,
    systemDiskGb: 100,
    gpuModel: 'RTX 4090',
    gpuCount: test.gpuCount,
    vramGbPerGpu: 24,
    dockerAddress: `tcp://${test.host}:${test.port}`,
    useTls: test.tls,
    caCert: test.ca ?? null,
    clientCert: test.cert ?? null,
    clientKey: test.key ?? null,
    ...over,
  };
}

/** The test node registered as the platform would have it, and seen connected. */
export async function register(p: TestPlatform, test: TestNode, over: Record<string, unknown> = {}) {
  const { id } = await p.commands.nodes.register(nodeInputOf(test, over), system);
  await p.commands.nodes.recordDockerStatus(id, 'connected', '', system);
  return { id, docker: dockerOverTcp(test), test };
}

export async function until<T>(
  what: string,
  probe: () => Promise<T | undefined | null | false>,
  ms = 30_000,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Waits until the instance is seen in this state. */
export function observed(p: TestPlatform, id: string, want: InstanceState['observed']) {
  return until(`instance ${id} to be ${want}`, async () => {
    const s = (await p.commands.instances.get(id))!;
    return s.observed === want ? s : null;
  });
}

export async function containersOf(docker: Docker, instanceId: string) {
  return docker.listContainers({ all: true, filters: { label: [`${LABEL_INSTANCE}=${instanceId}`] } });
}

/** Runs a command in a container with a TTY and returns what it printed. */
export async function execIn(docker: Docker, containerId: string, cmd: string[]): Promise<string> {
  const exec = await docker
    .getContainer(containerId)
    .exec({ Cmd: cmd, AttachStdout: true, AttachStderr: true, Tty: true });
  const stream = await exec.start({ hijack: true, stdin: false, Tty: true });
  let out = '';
  stream.on('data', (d: Buffer) => {
    out += d.toString('utf8');
  });
  await new Promise((resolve) => stream.on('end', resolve));
  return out.replace(/\r/g, '').trim();
}

/** A reconciler over a test platform, as the server runs it (no bridge on the test daemons). */
export async function startReconciler(
  p: TestPlatform,
  options: Partial<Pick<ReconcilerOptions, 'logger' | 'onPass'>> = {},
): Promise<Reconciler> {
  const reconciler = new Reconciler({
    store: p.store,
    pool: p.pool,
    commands: p.commands,
    logger: options.logger ?? pino({ level: 'silent' }),
    onPass: options.onPass,
    networkMode: 'none',
    stopTimeoutSeconds: 1,
  });
  await reconciler.start();
  return reconciler;
}

/** The test platform's installation id (the label its containers carry). */
export async function installationOf(p: TestPlatform): Promise<string> {
  return (await p.pool.query<{ id: string }>('SELECT id FROM installation')).rows[0]!.id;
}
