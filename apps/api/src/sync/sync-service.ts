import { liveNodeIds, openDriftInstanceIds } from '@tianqi/projections';
import type Docker from 'dockerode';
import cron, { type ScheduledTask } from 'node-cron';
import { systemContext } from '../commands/index.js';
import { KeyedInFlight } from '../concurrency/keyed-in-flight.js';
import { KeyedSemaphore } from '../concurrency/keyed-semaphore.js';
import { type ConnectionCheck, checkConnection } from '../docker/connection-check.js';
import { execCapture } from '../docker/exec.js';
import { installationId } from '../docker/installation.js';
import { probeSystemDiskLimit } from '../docker/system-disk-limit.js';
import type { NodeOwnership, NodeWork } from '../replicas/node-ownership.js';
import { applyDiskUsage, type DiskFigures } from './data-disk.js';
import { DiskUsageReader } from './disk-usage.js';
import type { DockerStats } from './metrics.js';
import { MetricsStore, type Sample, toSample } from './metrics.js';
import { gpuOf, type NodeSyncReport, type RunningContainer, type SyncDeps, syncNode } from './node-sync.js';

export interface SyncReport {
  startedAt: Date;
  ms: number;
  nodes: NodeSyncReport[];
  sampled: number;
}

/**
 * GPU memory used and total (MB) as nvidia-smi inside the container reports it; when the container has
 * no nvidia-smi, the total it may use (its slice's limit, or its cards) and no figure for use.
 */
export async function gpuMemory(
  docker: Docker,
  containerId: string,
  gpu: { count: number; vramGb: number },
): Promise<{ gpuMemoryUsedMb: number | null; gpuMemoryTotalMb: number }> {
  const limit = Math.round(gpu.count * gpu.vramGb * 1024);
  try {
    const r = await execCapture(docker, containerId, [
      'nvidia-smi',
      '--query-gpu=memory.used,memory.total',
      '--format=csv,noheader,nounits',
    ]);
    const rows = r.stdout
      .trim()
      .split('\n')
      .map((line) => line.split(',').map((v) => Number(v.trim())));
    if (
      r.exitCode === 0 &&
      rows.length > 0 &&
      rows.every((row) => row.length === 2 && row.every(Number.isFinite))
    ) {
      return {
        gpuMemoryUsedMb: rows.reduce((sum, row) => sum + row[0]!, 0),
        gpuMemoryTotalMb: Math.min(
          limit || Number.POSITIVE_INFINITY,
          rows.reduce((sum, row) => sum + row[1]!, 0),
        ),
      };
    }
  } catch {
    // no nvidia-smi in the image: fall back to the limit
  }
  return { gpuMemoryUsedMb: null, gpuMemoryTotalMb: limit };
}

/** A cron expression for every `seconds` (node-cron takes a seconds field). */
export function everySeconds(seconds: number): string {
  if (seconds < 60 && 60 % seconds === 0) return `*/${seconds} * * * * *`;
  if (seconds % 60 === 0 && 60 % (seconds / 60) === 0) return `0 */${seconds / 60} * * * *`;
  throw new Error(
    `sync.interval-seconds ${seconds} must divide a minute or an hour (e.g. 5, 10, 15, 20, 30, 60, 120)`,
  );
}

/** How old a sample may be and still be given as live stats (they are asked for every 5 s). */
export const LIVE_FRESH_MS = 4_000;

/**
 * The periodic sync: every node at once (each node's Docker calls bounded), never two runs at the same
 * time (a run asked for while one is going gets that run's report), resource figures sampled for the
 * running containers into the metrics store.
 */
export class SyncService implements NodeWork {
  readonly metrics = new MetricsStore();
  #task: ScheduledTask | null = null;
  #running: Promise<SyncReport> | null = null;
  /** The last sync's outcome in this process (the fleet overview shows it). */
  last: SyncReport | null = null;
  readonly #slots: KeyedSemaphore;
  /** Live samples being taken, by instance. */
  readonly #taking = new Map<string, Promise<Sample | null>>();
  readonly #disks: DiskUsageReader;
  /** Each instance's disk figures from the last sync (a live sample carries them too). */
  readonly #diskFigures = new Map<string, DiskFigures>();

  constructor(
    private readonly deps: SyncDeps,
    private readonly options: {
      samplesPerNode?: number;
      onSynced?: (report: SyncReport) => void;
      /** With several servers: only the nodes this one holds the lease of are synced. Absent: all. */
      ownership?: NodeOwnership;
      /** "Sync now" asked here: the other servers are told to sync the nodes they own. */
      tellOthers?: () => void;
    } = {},
  ) {
    const { ownership } = options;
    if (ownership) deps.fence ??= (nodeId) => ownership.fence(nodeId);
    // Docker answers a stats call at its next collection tick (about a second): calls made together
    // share the tick, so a node's containers are sampled together, up to this bound.
    this.#slots = new KeyedSemaphore(options.samplesPerNode ?? 128);
    this.#disks = new DiskUsageReader(deps.diskUsageTimeoutMs);
  }

  /** "Sync now": this server's nodes (whose report this is), and the others told to sync theirs. */
  runEverywhere(): Promise<SyncReport> {
    this.options.tellOthers?.();
    return this.runOnce();
  }

  /** Each node's part of the run going now: what giving a node up waits for (not the whole run). */
  readonly #nodeParts = new KeyedInFlight();

  runOnce(): Promise<SyncReport> {
    this.#running ??= this.#run().finally(() => {
      this.#running = null;
    });
    return this.#running;
  }

  async #run(): Promise<SyncReport> {
    this.deps.installation ??= await installationId(this.deps.pool);
    const startedAt = new Date();
    const t0 = performance.now();
    const live = await liveNodeIds(this.deps.pool);
    const { ownership } = this.options;
    const nodeIds = ownership ? live.filter((id) => ownership.owns(id)) : live;
    let sampled = 0;
    const alive = new Set<string>();
    const syncOne = async (nodeId: string) => {
      const node = await this.deps.commands.nodes.get(nodeId);
      if (!node) return null;
      try {
        const docker = this.deps.clients.forNode(node, this.deps.commands.nodes);
        const report = await syncNode(this.deps, node, docker);
        // One disk-usage call per node, while the stats calls go on: samples wait for its figures.
        const disks =
          report.status === 'connected' ? this.#measureDisks(nodeId, docker, report) : Promise.resolve();
        await Promise.all([
          disks,
          ...report.running.map((running) =>
            this.#slots.run(nodeId, async () => {
              alive.add(running.instanceId);
              if (await this.#sample(docker, running, false, disks)) sampled++;
            }),
          ),
        ]);
        return report;
      } catch (err) {
        this.deps.logger.warn({ err, node: node.name }, 'sync of a node failed');
        return null;
      }
    };
    const nodes = await Promise.all(nodeIds.map((nodeId) => this.#nodeParts.track(nodeId, syncOne(nodeId))));
    this.metrics.keepOnly(alive);
    for (const id of this.#diskFigures.keys()) if (!alive.has(id)) this.#diskFigures.delete(id);
    // A container seen on the wrong node in an earlier run and on none now: that drift is over.
    const misplaced = new Set(nodes.flatMap((n) => n?.misplaced ?? []));
    // Only when every node could be looked at (here: a node another server syncs is not), since a node
    // that did not answer may still hold the container.
    const complete = nodeIds.length === live.length && nodes.every((n) => n?.status === 'connected');
    const open = complete ? await openDriftInstanceIds(this.deps.pool, { kind: 'wrong_node' }) : [];
    for (const instanceId of open) {
      if (!misplaced.has(instanceId)) {
        await this.deps.commands.instances.record(
          instanceId,
          { type: 'RecordDriftResolved', kind: 'wrong_node' },
          systemContext('sync'),
        );
      }
    }
    const report = { startedAt, ms: performance.now() - t0, nodes: nodes.filter((n) => n !== null), sampled };
    this.last = report;
    this.options.onSynced?.(report);
    return report;
  }

  /**
   * A fresh sample of one running instance now (live stats in the web app, every few seconds), kept
   * with the sync's own; null when it has no running container or its node does not answer.
   */
  /**
   * A fresh sample of one running instance, for live stats. Everyone watching the same instance shares
   * it: a sample younger than `LIVE_FRESH_MS` is given as it is, and callers that come while one is
   * being taken wait for that one, so a hundred viewers do not ask Docker a hundred times.
   */
  sampleNow(instanceId: string): Promise<Sample | null> {
    const latest = this.metrics.latest(instanceId);
    if (latest && Date.now() - latest.at < LIVE_FRESH_MS) return Promise.resolve(latest);
    let taking = this.#taking.get(instanceId);
    if (!taking) {
      taking = this.#takeSample(instanceId).finally(() => this.#taking.delete(instanceId));
      this.#taking.set(instanceId, taking);
    }
    return taking;
  }

  async #takeSample(instanceId: string): Promise<Sample | null> {
    const instance = await this.deps.commands.instances.get(instanceId);
    if (!instance?.containerId || instance.observed !== 'running') return null;
    const node = await this.deps.commands.nodes.get(instance.nodeId);
    if (!node) return null;
    const docker = this.deps.clients.forNode(node, this.deps.commands.nodes);
    const running = { instanceId, containerId: instance.containerId, gpu: gpuOf(instance) };
    return (await this.#slots.run(node.nodeId, () => this.#sample(docker, running, true)))
      ? this.metrics.latest(instanceId)
      : null;
  }

  /** The node's disk usage: each instance's figures kept, and the data-disk rule applied. */
  async #measureDisks(nodeId: string, docker: Docker, report: NodeSyncReport): Promise<void> {
    const usage = await this.#disks.measure(nodeId, docker);
    report.diskUsageMs = usage?.ms ?? null;
    if (!usage) return;
    const figures = await applyDiskUsage(
      { commands: this.deps.commands, policy: this.deps.diskPolicy ?? 'stop', logger: this.deps.logger },
      usage,
      report.present,
    );
    for (const [id, f] of figures) this.#diskFigures.set(id, f);
  }

  async #sample(
    docker: Docker,
    running: RunningContainer,
    live = false,
    disks?: Promise<void>,
  ): Promise<boolean> {
    const { instanceId, containerId } = running;
    try {
      // One shot: no second look a second later; CPU % is taken against the previous sync's sample.
      const [stats, gpu] = await Promise.all([
        docker
          .getContainer(containerId)
          .stats({ stream: false, 'one-shot': true } as never) as unknown as Promise<DockerStats>,
        running.gpu ? gpuMemory(docker, containerId, running.gpu) : null,
      ]);
      const sample = toSample(stats, this.metrics.previousCpu(instanceId), Date.now());
      if (gpu) Object.assign(sample, gpu);
      await disks;
      const disk = this.#diskFigures.get(instanceId);
      if (disk) Object.assign(sample, disk);
      this.metrics.add(instanceId, sample, stats.cpu_stats, { live });
      return true;
    } catch {
      return false;
    }
  }

  /**
   * Checks a node's connection now and records the result as it is (connected, or failed with the
   * reason): what an admin sees right after registering or fixing a node.
   */
  readonly #checks = new Set<Promise<void>>();

  /** checkNow, tracked so that stop() waits for it. */
  checkSoon(nodeId: string): void {
    this.#track(this.checkNow(nodeId));
  }

  /** Background work of a check: its failure logged, and stop() waits for it. */
  #track(work: Promise<unknown>): void {
    const tracked: Promise<void> = work
      .then(
        () => {},
        (err: unknown) => this.deps.logger.warn({ err }, 'connection check failed'),
      )
      .finally(() => this.#checks.delete(tracked));
    this.#checks.add(tracked);
  }

  /**
   * Checks running now, by node and the Docker client they use: a check asked for meanwhile with the
   * same settings (registering, the reconciler's wake-up) shares it; one after the settings changed
   * (an admin's fix) makes its own.
   */
  readonly #checking = new Map<string, { docker: Docker; check: Promise<ConnectionCheck | null> }>();

  /** The check's result, once recorded (before the disk probe that follows it); null: no such node. */
  async checkNow(nodeId: string): Promise<ConnectionCheck | null> {
    const node = await this.deps.commands.nodes.get(nodeId);
    if (!node) return null;
    const docker = this.deps.clients.forNode(node, this.deps.commands.nodes);
    const running = this.#checking.get(nodeId);
    if (running?.docker === docker) return running.check;
    const check = this.#check(nodeId, docker).finally(() => {
      if (this.#checking.get(nodeId)?.check === check) this.#checking.delete(nodeId);
    });
    this.#checking.set(nodeId, { docker, check });
    return check;
  }

  async #check(nodeId: string, docker: Docker): Promise<ConnectionCheck | null> {
    const check = await checkConnection(docker);
    this.deps.health.observe(nodeId, check.ok);
    await this.deps.commands.nodes.recordDockerStatus(
      nodeId,
      check.ok ? 'connected' : 'failed',
      check.ok ? '' : check.reason,
      systemContext('sync'),
    );
    // An admin's check looks at the system disk limit afresh, whatever a create found before: after
    // the answer (a slow `docker info` does not hold it), tracked so that stop() waits for it.
    if (check.ok) this.#track(this.#probe(nodeId, docker));
    return check;
  }

  async #probe(nodeId: string, docker: Docker): Promise<void> {
    const probe = await probeSystemDiskLimit(docker);
    if (!probe) return;
    await this.deps.commands.nodes.act(
      nodeId,
      { type: 'RecordSystemDiskLimit', ...probe, source: 'probe', recheck: true },
      systemContext('sync'),
    );
  }

  #soon: NodeJS.Timeout | null = null;

  /**
   * This server now syncs the node: a first look soon (nodes taken together, at start or from a
   * replica that died, share one run), then at every interval.
   */
  startNode(): void {
    this.#soon ??= setTimeout(() => {
      this.#soon = null;
      this.runInBackground();
    }, 100);
  }

  /**
   * It no longer does: the node's part of the run going now ends first (its Docker calls and samples;
   * its writes are fenced). Not the whole run: a replica giving up some of its hundred nodes would
   * otherwise hold each lease until every node's part had ended, and the shares never settle.
   */
  async stopNode(nodeId: string): Promise<void> {
    await this.#nodeParts.settled(nodeId);
  }

  start(intervalSeconds: number): void {
    this.#task = cron.schedule(everySeconds(intervalSeconds), () => this.runInBackground(), {
      name: 'tianqi-sync',
      noOverlap: true,
    });
  }

  /** A run whose failure is logged, not thrown: for the timer and the first look at start. */
  runInBackground(): void {
    this.runOnce().catch((err: unknown) => this.deps.logger.error({ err }, 'sync failed'));
  }

  async stop(): Promise<void> {
    if (this.#soon) clearTimeout(this.#soon);
    this.#soon = null;
    await this.#task?.destroy();
    this.#task = null;
    await this.#running?.catch(() => {});
    await Promise.all(this.#checks);
  }
}
