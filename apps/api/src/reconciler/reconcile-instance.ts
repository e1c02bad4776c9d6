import { type InstanceState, instanceGone, type NodeState } from '@tianqi/domain';
import type Docker from 'dockerode';
import type { CommandContext, Commands, Observation } from '../commands/index.js';
import { systemContext } from '../commands/index.js';
import type { NodeClients } from '../docker/clients.js';
import { dataVolume, LABEL_INSTALLATION, LABEL_INSTANCE } from '../docker/labels.js';
import { describePullFailure } from '../docker/pull-error.js';
import { refusedStorageOpt } from '../docker/system-disk-limit.js';
import { containerRecipe, HAMI_PRELOAD } from './container-recipe.js';
import { connectionTrouble } from './failure-reason.js';
import { RetryLater } from './retry-later.js';
import { tarOf } from './tar.js';

export interface ReconcileDeps {
  commands: Commands;
  clients: NodeClients;
  networkMode: string;
  /** Seconds `docker stop` waits before it kills. */
  stopTimeoutSeconds: number;
  /** This installation's id: only its own containers are ever looked at. */
  installation: string;
  now?: () => Date;
  /**
   * With several servers: the fence of the node's lease for every write, asked again before every
   * Docker call; it throws LeaseLost once this server may no longer act on the node.
   */
  fence?: (nodeId: string) => string;
}

/** The image could not be pulled: the creation failed for good, with this reason. */
class PullFailed extends Error {}

const system = systemContext('reconciler');

/** Docker answered, and said no: retrying the same call will not help. */
function refusedByDocker(err: unknown): err is Error & { statusCode: number } {
  const code = (err as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' && code >= 400 && code !== 408 && code < 500;
}

const reasonOf = (err: unknown) => {
  const e = err as { json?: { message?: string }; message?: string };
  return (e.json?.message ?? e.message ?? String(err)).slice(0, 1000);
};

/**
 * One pass of the controller for one instance: look at what Docker has (found by label, so work done
 * before a crash is found, never repeated), do the next thing that brings it closer to what is asked,
 * and record what happened. Idempotent: running it again when all agrees does nothing.
 */
export async function reconcileInstance(
  deps: ReconcileDeps,
  instanceId: string,
  /** The instance as the caller has just read it; when left out, this process's fold of it. */
  read?: InstanceState,
): Promise<void> {
  const { commands } = deps;
  const instance = read ?? (await commands.instances.get(instanceId, { cached: true }));
  if (!instance?.origin) return;
  if (instanceGone(instance) && instance.volumesRemoved) return;
  // What a pass needs of its node (its address, its status) changes seldom, while every create on it
  // moves its stream: a fold read up to a second ago will do (a node that failed within that second
  // fails the Docker call instead, and the pass is retried). One seen failed is read again: the pass
  // may be the one its return woke.
  let node = await commands.nodes.get(instance.nodeId, { maxAgeMs: 1_000 });
  if (node?.dockerStatus === 'failed') node = await commands.nodes.get(instance.nodeId);
  if (!node) return;
  // A failed node's containers are never touched because of it: the work waits until it is back.
  if (node.dockerStatus === 'failed')
    throw new RetryLater(`node ${node.name} is down (its Docker cannot be reached); waiting for it`);
  const docker = deps.clients.forNode(node, commands.nodes);
  // Asked before each Docker call that changes something: a server that lost the node stops here.
  const acting = () => ({ ...system, fence: deps.fence?.(node.nodeId) });
  // The container a pass made (or adopted) is recorded with what the pass does next, its start mostly:
  // one append and one wake-up of the log's followers instead of two. Whatever is held when the pass
  // ends, by an error too, is recorded then.
  let held: Observation[] = [];
  const record: Recorder = (o) => {
    const all = [...held, o];
    held = [];
    return commands.instances.record(instanceId, all, acting());
  };
  const recordWithNext = (o: Observation) => {
    held.push(o);
  };
  try {
    await pass({ deps, docker, node, record, recordWithNext, acting }, instance);
  } finally {
    if (held.length > 0) await commands.instances.record(instanceId, held, acting());
  }
}

type Recorder = (o: Observation) => Promise<unknown>;

/** What a pass works with once it has the instance's node and its Docker. */
interface PassContext {
  deps: ReconcileDeps;
  docker: Docker;
  node: NodeState;
  record: Recorder;
  /** Held, and recorded with the next `record` (or when the pass ends). */
  recordWithNext: (o: Observation) => void;
  acting: () => CommandContext;
}

/** What reconcileInstance does once it has the instance and its node's Docker. */
async function pass(p: PassContext, instance: InstanceState): Promise<void> {
  const { deps, docker, node, record, recordWithNext, acting } = p;
  const { instanceId } = instance;
  let found: Docker.ContainerInfo[];
  try {
    found = await docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_INSTANCE}=${instanceId}`, `${LABEL_INSTALLATION}=${deps.installation}`] },
    });
  } catch (err) {
    throw new RetryLater(`node ${node.name}: ${connectionTrouble(err)}`);
  }
  // Never two containers for one instance: the newest is kept, any other removed.
  found.sort((a, b) => b.Created - a.Created);
  for (const extra of found.slice(1)) {
    acting();
    await docker.getContainer(extra.Id).remove({ force: true, v: false });
  }
  const existing = found[0];

  if (instance.desired === 'deleted') {
    acting();
    return removeAll(deps, docker, instance, existing, record);
  }
  if (existing && instance.containerId !== existing.Id) {
    recordWithNext({
      type: 'RecordContainerCreated',
      containerId: existing.Id,
      containerName: nameOf(existing),
    });
  }
  if (instance.desired === 'stopped') {
    if (!existing) return;
    const container = docker.getContainer(existing.Id);
    acting();
    if (existing.State === 'running') await container.stop({ t: deps.stopTimeoutSeconds }).catch(ignore(304));
    if (instance.observed !== 'exited') {
      const { State } = await container.inspect();
      await record({
        type: 'RecordContainerExited',
        exitCode: State.ExitCode ?? null,
        oomKilled: State.OOMKilled,
      });
    }
    return;
  }

  // Wanted running.
  if (instance.creationFailed || !instance.allocationHeld) return;
  let containerId = existing?.Id;
  if (!containerId) {
    acting();
    const made = await create(p, instance);
    if (!made) return;
    containerId = made;
  }
  const container = docker.getContainer(containerId);
  const running = existing?.State === 'running';
  const restartDue = instance.restarts > instance.restartsDone;
  acting();
  try {
    if (!running && instance.allocation?.gpus.kind === 'slice') {
      // The preload also holds for processes that clear LD_PRELOAD: the dynamic loader reads this
      // file. Written before every start (it is idempotent), so a container adopted after a crash has it.
      await container.putArchive(tarOf({ 'etc/ld.so.preload': `${HAMI_PRELOAD}\n` }), { path: '/' });
    }
    if (running && restartDue) {
      await container.restart({ t: deps.stopTimeoutSeconds });
    } else if (!running) {
      await container.start().catch(ignore(304));
    }
  } catch (err) {
    if (!running && staleTask(err)) return discardUnstarted(instance, container, reasonOf(err), record);
    // Gone between the look and the start (a daemon restarting can lose one it had just made): the
    // next pass finds none and makes it again.
    if ((err as { statusCode?: number }).statusCode === 404)
      throw new RetryLater(`container ${container.id} went away before its start`);
    if (!refusedByDocker(err)) throw err;
    await record({
      type: 'RecordInstanceFailed',
      phase: restartDue ? 'restart' : 'start',
      reason: reasonOf(err),
    });
    return;
  }
  if (restartDue) await record({ type: 'RecordContainerRestarted', restart: instance.restarts });
  else if (instance.observed !== 'running' || !running) await record({ type: 'RecordContainerStarted' });
}

/**
 * How Docker 20.10 answers (500) a start after a killed daemon left the container's containerd task or
 * its shim folder behind; the same start, by hand or by retry, fails the same way for ever.
 */
// `ttrpc: closed` is not among them: containerd restarting answers it for a moment, and a retry does.
const STALE_TASK = /task [0-9a-f]+: already exists|id already in use|failed to start shim: .*file exists/;

function staleTask(err: unknown): boolean {
  const code = (err as { statusCode?: unknown }).statusCode;
  return typeof code === 'number' && code >= 500 && STALE_TASK.test(reasonOf(err));
}

/** Containers removed unstarted and made again before the start is recorded as failed. */
export const MAX_DISCARDS = 3;

/**
 * A container that never ran holds nothing of the user's (its data volume is kept), so when a stale
 * task blocks its start it is removed and the next pass makes a new one, at most MAX_DISCARDS times;
 * past that the failure is recorded and left (the start is tried again when something wakes it).
 */
async function discardUnstarted(
  instance: InstanceState,
  container: Docker.Container,
  reason: string,
  record: Recorder,
): Promise<void> {
  const info = await container.inspect().catch(ignore(404));
  if (!info) throw new RetryLater(`container ${container.id} went away during its start`);
  const neverRan = !info.State.Running && info.State.StartedAt.startsWith('0001-01-01');
  if (!neverRan || instance.containersDiscarded >= MAX_DISCARDS) {
    const made =
      instance.containersDiscarded > 0 ? ` (after ${instance.containersDiscarded} new containers)` : '';
    await record({ type: 'RecordInstanceFailed', phase: 'start', reason: `${reason}${made}`.slice(0, 2000) });
    return;
  }
  // v: its anonymous volumes (an image's VOLUME) go with it; the named data volume is never one of them.
  await container.remove({ force: true, v: true }).catch(ignore(404));
  await record({ type: 'RecordContainerDiscarded', containerId: info.Id, reason });
}

const nameOf = (c: Docker.ContainerInfo) => (c.Names[0] ?? c.Id).replace(/^\//, '');

/** Ignores Docker's answer `status` (304 "already in that state", 404 "no such thing"). */
function ignore(...statuses: number[]) {
  return (err: unknown) => {
    if (!statuses.includes((err as { statusCode?: number }).statusCode ?? 0)) throw err;
  };
}

/**
 * Pulls the image when the node lacks it, creates the container, records it. Null when it failed for
 * good. Where the node may limit the system disk, the container asks for it; a Docker that refuses the
 * option (overlay2 without pquota) gets the container without it, and the node records why.
 */
async function create(p: PassContext, instance: InstanceState): Promise<string | null> {
  const { deps, docker, node, record, recordWithNext, acting } = p;
  const address = instance.origin!.image.address;
  const limit = node.systemDiskLimit;
  const options = {
    now: deps.now?.() ?? new Date(),
    hamiCoreDir: node.hamiCoreDir,
    networkMode: deps.networkMode,
    installation: deps.installation,
  };
  let recipe = containerRecipe(instance, {
    ...options,
    limitSystemDisk: limit.status === 'enforced' || limit.status === 'unconfirmed',
  });
  // Straight to create: the image is usually there, and a missing one answers 404 (then pull).
  const createOrPull = (r: Docker.ContainerCreateOptions) =>
    docker.createContainer(r).catch(async (err: unknown) => {
      if ((err as { statusCode?: number }).statusCode !== 404) throw err;
      try {
        await pull(docker, address);
      } catch (pullErr) {
        throw new PullFailed(describePullFailure(address, reasonOf(pullErr)));
      }
      acting(); // a pull can take long: the lease is looked at again before the create
      return docker.createContainer(r);
    });
  const recordLimit = (status: 'enforced' | 'unsupported', reason: string) =>
    deps.commands.nodes.act(
      node.nodeId,
      { type: 'RecordSystemDiskLimit', status, storageDriver: limit.storageDriver, reason, source: 'create' },
      acting(),
    );
  // A daemon killed while it made the data volume can keep the volume's record without its folder, and
  // then refuses every container that mounts it. Nothing can be in a volume with no folder: it is
  // removed, and the create makes it afresh.
  const volume = dataVolume(instance.instanceId);
  const createOrRepair = (r: Docker.ContainerCreateOptions) =>
    createOrPull(r).catch(async (err: unknown) => {
      if (!lostVolumeFolder(err, volume)) throw err;
      acting();
      await docker.getVolume(volume).remove();
      return createOrPull(r);
    });
  let container: Docker.Container;
  try {
    container = await createOrRepair(recipe).catch(async (err: unknown) => {
      if (!recipe.HostConfig?.StorageOpt || !refusedStorageOpt(err)) throw err;
      await recordLimit('unsupported', reasonOf(err));
      recipe = containerRecipe(instance, { ...options, limitSystemDisk: false });
      return createOrRepair(recipe);
    });
  } catch (err) {
    if (!(err instanceof PullFailed) && !refusedByDocker(err)) throw err;
    await record({ type: 'RecordInstanceFailed', phase: 'create', reason: reasonOf(err) });
    return null;
  }
  if (recipe.HostConfig?.StorageOpt && limit.status === 'unconfirmed') await recordLimit('enforced', '');
  recordWithNext({ type: 'RecordContainerCreated', containerId: container.id, containerName: recipe.name! });
  return container.id;
}

/** Docker's answer when a volume it has on record lost its folder (`…/volumes/<name>/_data`). */
function lostVolumeFolder(err: unknown, volume: string): boolean {
  return (
    (err as { statusCode?: unknown }).statusCode === 500 &&
    reasonOf(err).includes(`/volumes/${volume}/_data: no such file or directory`)
  );
}

async function pull(docker: Docker, address: string): Promise<void> {
  const stream = await docker.pull(address);
  await new Promise<void>((resolve, reject) =>
    docker.modem.followProgress(stream, (err: Error | null, output: { error?: string }[]) => {
      const failed = err ?? output.find((o) => o.error);
      if (failed) reject(failed instanceof Error ? failed : new Error(failed.error));
      else resolve();
    }),
  );
}

/**
 * Deleting: stop, remove the container, then every named volume it mounted (and its data volume),
 * trying the volumes even when the container could not be removed.
 */
async function removeAll(
  deps: ReconcileDeps,
  docker: Docker,
  instance: InstanceState,
  existing: Docker.ContainerInfo | undefined,
  record: Recorder,
): Promise<void> {
  const volumes = new Set([dataVolume(instance.instanceId)]);
  let containerError: unknown;
  if (existing) {
    const container = docker.getContainer(existing.Id);
    try {
      const info = await container.inspect();
      for (const m of info.Mounts) if (m.Type === 'volume' && m.Name) volumes.add(m.Name);
      if (info.State.Running) await container.stop({ t: deps.stopTimeoutSeconds }).catch(ignore(304, 404));
      await container.remove({ force: true }).catch(ignore(404));
    } catch (err) {
      containerError = err;
    }
  }
  const removed: string[] = [];
  for (const name of volumes) {
    try {
      await docker.getVolume(name).remove();
      removed.push(name);
    } catch (err) {
      if ((err as { statusCode?: number }).statusCode !== 404) containerError ??= err;
    }
  }
  if (containerError) throw containerError;
  if (instance.observed !== 'removed') await record({ type: 'RecordContainerRemoved' });
  await record({ type: 'RecordVolumesRemoved', volumes: removed });
}
