import { setImmediate } from 'node:timers/promises';
import {
  awaitsReconciler,
  type ContainerSeen,
  type DataDiskPolicy,
  type DriftFinding,
  findDrift,
  type InstanceState,
  instanceGone,
  type NodeState,
  orphanRemovable,
  wrongNodeDrift,
} from '@tianqi/domain';
import { activeInstanceIds } from '@tianqi/projections';
import type Docker from 'dockerode';
import type pg from 'pg';
import type { Logger } from 'pino';
import { type Commands, systemContext } from '../commands/index.js';
import type { NodeClients } from '../docker/clients.js';
import { checkConnection } from '../docker/connection-check.js';
import { inspectOrNull } from '../docker/inspect.js';
import {
  dataVolume,
  LABEL_INSTALLATION,
  LABEL_INSTANCE,
  LABEL_MANAGED_BY,
  MANAGED_BY,
} from '../docker/labels.js';
import type { NodeHealth } from '../docker/node-health.js';
import { probeSystemDiskLimit } from '../docker/system-disk-limit.js';
import type { PresentInstance } from './data-disk.js';

export type DriftPolicy = 'report' | 'heal';

export interface SyncDeps {
  pool: pg.Pool;
  commands: Commands;
  clients: NodeClients;
  health: NodeHealth;
  policy: DriftPolicy;
  /** What follows a warning that an instance's /data is over its spec's data disk (default `stop`). */
  diskPolicy?: DataDiskPolicy;
  /** How long a sync waits for a node's disk-usage answer. */
  diskUsageTimeoutMs?: number;
  logger: Logger;
  /** Hands instances to the reconciler ("heal"). */
  converge: (instanceIds: string[]) => void;
  /** Hands the reconciler instances it still owes work (awaitsReconciler), for it to see none is lost. */
  wake?: (instanceIds: string[]) => void;
  /** This installation's id (read from the database when left out). */
  installation?: string;
  /** With several servers: the fence of the node's lease for its writes (throws when not held). */
  fence?: (nodeId: string) => string;
}

export interface NodeSyncReport {
  nodeId: string;
  name: string;
  status: 'connected' | 'failed' | 'unreachable';
  containers: number;
  /** Instances whose observed state changed, drift found or resolved, orphans. */
  changes: number;
  running: RunningContainer[];
  /** Instances with a container here although they live on another node. */
  misplaced: string[];
  /** The instances that live here, with their container if Docker listed one. */
  present: PresentInstance[];
  /** How long the node's disk-usage answer took (null: none within the timeout). */
  diskUsageMs?: number | null;
}

export interface RunningContainer {
  instanceId: string;
  containerId: string;
  /** GPUs it holds and the VRAM per GPU it may use (a slice's share, or the card's), if any. */
  gpu: { count: number; vramGb: number } | null;
}

export function gpuOf(instance: InstanceState): RunningContainer['gpu'] {
  const gpus = instance.allocation?.gpus;
  if (!gpus || gpus.kind === 'none') return null;
  return {
    count: gpus.indices.length,
    vramGb: gpus.kind === 'slice' ? gpus.vramGb : (instance.origin?.spec.vramGb ?? 0),
  };
}

const system = systemContext('sync');
type Context = ReturnType<typeof systemContext>;

/**
 * One node's part of a sync: check the connection (a node is failed only after two failed checks, and
 * then left alone), list the managed containers in one call, record what changed (a container that
 * exited by itself, with its exit code and OOM flag; one that is gone), and record drift when it starts
 * and when it ends. With the heal policy, drifting instances go to the reconciler and orphans are removed.
 */
export async function syncNode(deps: SyncDeps, node: NodeState, docker: Docker): Promise<NodeSyncReport> {
  const { commands } = deps;
  const ctx: Context = { ...system, fence: deps.fence?.(node.nodeId) };
  const report: NodeSyncReport = {
    nodeId: node.nodeId,
    name: node.name,
    status: 'connected',
    containers: 0,
    changes: 0,
    running: [],
    misplaced: [],
    present: [],
  };
  const check = await checkConnection(docker);
  const status = deps.health.observe(node.nodeId, check.ok);
  if (status) await commands.nodes.recordDockerStatus(node.nodeId, status, check.ok ? '' : check.reason, ctx);
  if (!check.ok) {
    report.status = status === 'failed' ? 'failed' : 'unreachable';
    return report;
  }
  // Whether Docker can limit system disks here: looked at the first time, and again each time the
  // node comes back (the engine may have been set up again meanwhile).
  if (node.systemDiskLimit.status === 'unknown' || node.dockerStatus !== 'connected') {
    const probe = await probeSystemDiskLimit(docker);
    if (probe) {
      await commands.nodes.act(
        node.nodeId,
        { type: 'RecordSystemDiskLimit', ...probe, source: 'probe' },
        ctx,
      );
    }
  }
  let containers: Docker.ContainerInfo[];
  try {
    containers = await docker.listContainers({
      all: true,
      filters: { label: [`${LABEL_MANAGED_BY}=${MANAGED_BY}`, `${LABEL_INSTALLATION}=${deps.installation}`] },
    });
  } catch (err) {
    deps.logger.warn({ err, node: node.name }, 'listing containers failed');
    report.status = 'unreachable';
    return report;
  }
  report.containers = containers.length;
  const byInstance = new Map(containers.map((c) => [c.Labels[LABEL_INSTANCE] ?? '', c]));
  const wanted = await activeInstanceIds(deps.pool, { nodeId: node.nodeId });
  const ids = new Set([...wanted, ...byInstance.keys()].filter((id) => id !== ''));
  const heal: string[] = [];
  const owed: string[] = [];
  // Read together; an instance with something to record is read again first (observeInstance).
  const states = await commands.instances.getMany([...ids]);
  let looked = 0;
  for (const id of ids) {
    // Read together, most instances are looked at with no I/O at all: the loop lets the event loop
    // run now and then, or a sync of many nodes would hold up lease renewals and requests for seconds.
    if (++looked % 100 === 0) await setImmediate();
    const instance = states.get(id) ?? null;
    const container = byInstance.get(id);
    if (!instance || instanceGone(instance) || instance.nodeId !== node.nodeId) {
      if (container) {
        report.changes += await orphan(deps, docker, node, container, instance, ctx);
        if (instance?.exists && instance.nodeId !== node.nodeId) report.misplaced.push(id);
      }
      continue;
    }
    report.present.push({ instance, containerId: container?.Id ?? null });
    if (container?.State === 'running') {
      report.running.push({ instanceId: id, containerId: container.Id, gpu: gpuOf(instance) });
    }
    const changed = await observeInstance(deps, docker, instance, container, ctx);
    report.changes += changed.changes;
    if (changed.drift && deps.policy === 'heal') heal.push(id);
    // Only where this look recorded nothing (what it records wakes the reconciler) and saw no drift
    // (drift is healed or reported as such, not owed work).
    else if (changed.changes === 0 && !changed.drift && awaitsReconciler(instance)) owed.push(id);
  }
  // Orphans recorded earlier whose container has gone meanwhile.
  const present = new Set(containers.map((c) => c.Id));
  for (const gone of node.orphans.filter((c) => !present.has(c))) {
    await commands.nodes.act(node.nodeId, { type: 'RecordOrphanGone', containerId: gone }, ctx);
    report.changes++;
  }
  if (heal.length > 0) deps.converge(heal);
  if (owed.length > 0) deps.wake?.(owed);
  return report;
}

/** What the look at an instance reads of its container's line in the node's list. */
type ListedContainer = Pick<Docker.ContainerInfo, 'Id' | 'State' | 'Status'>;

/**
 * Compares one instance with its container (as its node lists it; none: not listed) and records
 * observations and drift (start and end): the sync's look, and the event follower's for one instance.
 */
export async function observeInstance(
  deps: Pick<SyncDeps, 'commands'>,
  docker: Docker,
  read: InstanceState,
  container: ListedContainer | undefined,
  /** Who records it, with the fence of the node's lease when several servers share the fleet. */
  by: Context,
  /** The container's inspect answer, when the caller has just taken it (no second look then). */
  inspected?: Docker.ContainerInspectInfo,
): Promise<{ changes: number; drift: boolean }> {
  let instance = read;
  const record = (o: Parameters<Commands['instances']['record']>[1]) =>
    deps.commands.instances.record(instance.instanceId, o, by).then((r) => (r.position ? 1 : 0));
  let finding = findDrift(instance, await containerSeen(docker, instance, container));
  if (news(instance, finding)) {
    // Something to record: looked at again on the instance as it is now, not as it was read (the sync
    // reads a node's instances together, and the reconciler may have made a new container since).
    const now = await deps.commands.instances.get(instance.instanceId);
    if (!now || instanceGone(now) || now.nodeId !== instance.nodeId) return { changes: 0, drift: false };
    instance = now;
    finding = findDrift(instance, await containerSeen(docker, instance, container));
  }
  let info: Docker.ContainerInspectInfo | null = inspected ?? null;
  if (container && !inspected && news(instance, finding)) {
    // Looked at again before anything is recorded: the list may be older than what the reconciler
    // or the event follower did and recorded since it was taken (a restart, an exit seen at once).
    info = await inspectOrNull(docker, container.Id);
    finding = findDrift(instance, await containerSeen(docker, instance, info ? listedOf(info) : undefined));
  }
  // Drift is decided first and recorded before the observations: each observation wakes the
  // reconciler, which must already see the drift when the policy is "report".
  let changes = 0;
  for (const d of finding.drift)
    changes += await record({ type: 'RecordDrift', kind: d.kind, detail: d.detail });
  if (finding.observed === 'removed') changes += await record({ type: 'RecordContainerRemoved' });
  if (finding.observed === 'started') changes += await record({ type: 'RecordContainerStarted' });
  if (finding.observed === 'exited' && info) {
    changes += await record({
      type: 'RecordContainerExited',
      exitCode: info.State.ExitCode ?? null,
      oomKilled: info.State.OOMKilled,
    });
  }
  for (const kind of finding.resolved) changes += await record({ type: 'RecordDriftResolved', kind });
  return { changes, drift: finding.drift.length > 0 };
}

/** Whether a finding would record anything the instance does not already have. */
function news(instance: InstanceState, finding: DriftFinding): boolean {
  return (
    finding.observed !== null ||
    finding.resolved.length > 0 ||
    finding.drift.some((d) => !instance.drifts.includes(d.kind))
  );
}

/** A container's inspect answer as the node's list line for it (Docker's words: "Exited (137)"). */
export function listedOf(info: Docker.ContainerInspectInfo): ListedContainer {
  const { Status, ExitCode } = info.State;
  return { Id: info.Id, State: Status, Status: Status === 'exited' ? `Exited (${ExitCode})` : Status };
}

/** The container as the rules look at it; a missing one is looked for once more by its recorded id. */
async function containerSeen(
  docker: Docker,
  instance: InstanceState,
  container: ListedContainer | undefined,
): Promise<ContainerSeen> {
  if (!container) {
    const recordedStillThere = instance.containerId
      ? await docker
          .getContainer(instance.containerId)
          .inspect()
          .then(
            () => true,
            () => false,
          )
      : false;
    return { state: 'absent', recordedStillThere };
  }
  if (container.State === 'restarting' || container.State === 'removing' || container.State === 'created')
    return { state: 'changing' };
  if (container.State === 'running' || container.State === 'paused') return { state: 'running' };
  return { state: 'stopped', status: container.Status ?? '' };
}

/** A managed container no instance owns (here): reported, and removed under the heal policy. */
async function orphan(
  deps: SyncDeps,
  docker: Docker,
  node: NodeState,
  container: Docker.ContainerInfo,
  instance: InstanceState | null,
  ctx: Context,
): Promise<number> {
  const instanceId = container.Labels[LABEL_INSTANCE] ?? '';
  const name = (container.Names[0] ?? container.Id).replace(/^\//, '');
  let changes = 0;
  const misplaced = wrongNodeDrift(instance, node);
  if (misplaced) {
    // The instance lives elsewhere: its record says another node.
    changes += (await deps.commands.instances.record(instanceId, { type: 'RecordDrift', ...misplaced }, ctx))
      .position
      ? 1
      : 0;
  }
  if (!node.orphans.includes(container.Id)) {
    await deps.commands.nodes.act(
      node.nodeId,
      { type: 'RecordOrphan', containerId: container.Id, name, instanceId },
      ctx,
    );
    changes++;
  }
  if (deps.policy === 'heal' && orphanRemovable(instance)) {
    await docker
      .getContainer(container.Id)
      .remove({ force: true })
      .catch(() => {});
    if (instanceId && !instance?.exists)
      await docker
        .getVolume(dataVolume(instanceId))
        .remove()
        .catch(() => {});
  }
  return changes;
}
