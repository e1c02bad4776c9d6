import { instanceGone } from '@tianqi/domain';
import { activeInstanceIds } from '@tianqi/projections';
import type pg from 'pg';
import type { Logger } from 'pino';
import { type Commands, systemContext } from '../commands/index.js';
import { KeyedMutex } from '../concurrency/keyed-mutex.js';
import { NodeClients } from '../docker/clients.js';
import type { DockerEvent } from '../docker/events.js';
import { inspectOrNull } from '../docker/inspect.js';
import { installationId } from '../docker/installation.js';
import { LABEL_INSTALLATION, LABEL_INSTANCE, LABEL_MANAGED_BY, MANAGED_BY } from '../docker/labels.js';
import type { NodeWork } from '../replicas/node-ownership.js';
import { type FollowerMetrics, NodeEventFollower } from './node-events.js';
import { type DriftPolicy, listedOf, observeInstance } from './node-sync.js';

export interface EventFollowersDeps {
  pool: pg.Pool;
  commands: Commands;
  /** Clients for the looks (ordinary calls); the streams get clients of their own, without a timeout. */
  clients: NodeClients;
  policy: DriftPolicy;
  logger: Logger;
  /** Hands instances to the reconciler ("heal"). */
  converge: (instanceIds: string[]) => void;
  /**
   * Runs a look at an instance between the reconciler's passes over it (Reconciler.betweenPasses), so
   * the reconciler's own stop or restart is recorded by the reconciler and never taken for drift.
   */
  betweenPasses?: <T>(instanceId: string, work: () => Promise<T>) => Promise<T>;
  /** With several servers: the fence of the node's lease for its writes (throws when not held). */
  fence?: (nodeId: string) => string;
  metrics?: FollowerMetrics;
  backoff?: { baseMs: number; maxMs: number };
  installation?: string;
}

/** The container events that change what the platform observes (an OOM kill comes as `oom`, then `die`). */
const ACTIONS = ['start', 'die', 'oom', 'destroy'];
const ctx = systemContext('docker-events');
const LOOK_ATTEMPTS = 3;

/**
 * Observed state within a second instead of at the next sync: each followed node's Docker event stream
 * (this installation's containers only) wakes a look at the instance the event is about, which records
 * what the sync would (started; exited with its code and OOM flag; removed; drift) through the same
 * observation commands, so a change seen by both is recorded once. The sync stays the backstop.
 *
 * `follow(nodeId)` and `unfollow(nodeId)` are the one place a node's stream is started and stopped:
 * as per-node work (startNode/stopNode) under the node's lease, where its reconciler and sync run.
 */
export class EventFollowers implements NodeWork {
  readonly #followers = new Map<string, NodeEventFollower>();
  readonly #streams = new NodeClients({ timeoutMs: 0 });
  readonly #nodes = new KeyedMutex();
  /** Looks in progress by instance; `again`: an event came meanwhile, look once more after it. */
  readonly #looking = new Map<string, { again: boolean; done: Promise<void> }>();
  #stopped = false;

  constructor(private readonly deps: EventFollowersDeps) {}

  /** Streams open now. */
  get connected(): number {
    let n = 0;
    for (const f of this.#followers.values()) if (f.connected) n++;
    return n;
  }

  /** Follows the node's events; already followed, its stream is opened again if its settings changed. */
  follow(nodeId: string): Promise<void> {
    return this.#nodes.run(nodeId, async () => {
      if (this.#stopped) return;
      const node = await this.deps.commands.nodes.get(nodeId);
      if (!node) return this.#drop(nodeId);
      const following = this.#followers.get(nodeId);
      if (following) {
        if (following.docker !== this.#streams.forNode(node, this.deps.commands.nodes)) following.reconnect();
        return;
      }
      this.deps.installation ??= await installationId(this.deps.pool);
      const follower = new NodeEventFollower(nodeId, {
        open: async () => {
          const now = await this.deps.commands.nodes.get(nodeId);
          return now && { docker: this.#streams.forNode(now, this.deps.commands.nodes), name: now.name };
        },
        filters: {
          type: ['container'],
          event: ACTIONS,
          label: [`${LABEL_MANAGED_BY}=${MANAGED_BY}`, `${LABEL_INSTALLATION}=${this.deps.installation}`],
        },
        onEvent: (event) => this.#onEvent(nodeId, event),
        onResumed: () => {
          activeInstanceIds(this.deps.pool, { nodeId }).then(
            (ids) => {
              for (const id of ids) this.#lookSoon(nodeId, id);
            },
            (err: unknown) => this.deps.logger.debug({ err, nodeId }, 'no look after the events resumed'),
          );
        },
        logger: this.deps.logger,
        metrics: this.deps.metrics,
        backoff: this.deps.backoff,
      });
      this.#followers.set(nodeId, follower);
      follower.start();
    });
  }

  /** Stops following the node's events. */
  unfollow(nodeId: string): Promise<void> {
    return this.#nodes.run(nodeId, () => this.#drop(nodeId));
  }

  startNode(nodeId: string): Promise<void> {
    return this.follow(nodeId);
  }

  stopNode(nodeId: string): Promise<void> {
    return this.unfollow(nodeId);
  }

  async #drop(nodeId: string): Promise<void> {
    const follower = this.#followers.get(nodeId);
    this.#followers.delete(nodeId);
    await follower?.stop();
  }

  /** The nodes followed now. */
  get nodeIds(): string[] {
    return [...this.#followers.keys()];
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await Promise.all(this.nodeIds.map((id) => this.unfollow(id)));
    await Promise.all([...this.#looking.values()].map((l) => l.done));
  }

  #onEvent(nodeId: string, event: DockerEvent): void {
    const instanceId = event.Actor.Attributes[LABEL_INSTANCE];
    if (instanceId) this.#lookSoon(nodeId, instanceId);
  }

  /** A look at the instance now, or once more after the one under way. */
  #lookSoon(nodeId: string, instanceId: string): void {
    if (this.#stopped) return;
    const looking = this.#looking.get(instanceId);
    if (looking) {
      looking.again = true;
      return;
    }
    const entry = { again: false, done: Promise.resolve() };
    this.#looking.set(instanceId, entry);
    entry.done = (async () => {
      let failures = 0;
      do {
        entry.again = false;
        try {
          await this.#look(nodeId, instanceId);
          failures = 0;
        } catch (err) {
          // Tried again a few times (a node or database busy for a moment); past that the sync looks
          // within its interval.
          this.deps.logger.debug({ err, instanceId, failures }, 'a look after a Docker event failed');
          if (++failures < LOOK_ATTEMPTS) {
            await new Promise((r) => setTimeout(r, 250 * 2 ** failures));
            entry.again = true;
          }
        }
      } while (entry.again && !this.#stopped);
    })().finally(() => this.#looking.delete(instanceId));
  }

  /** What the sync does for one instance of this node, between the reconciler's passes over it. */
  #look(nodeId: string, instanceId: string): Promise<void> {
    const look = async () => {
      const { commands } = this.deps;
      // Asked first: a server whose lease on the node has gone records nothing about it.
      const by = { ...ctx, fence: this.deps.fence?.(nodeId) };
      const instance = await commands.instances.get(instanceId);
      // Gone, living on another node, or no container on record yet (the reconciler is making one):
      // orphans, misplaced containers and adoptions are the sync's and the reconciler's.
      if (!instance?.containerId || instanceGone(instance) || instance.nodeId !== nodeId) return;
      const node = await commands.nodes.get(nodeId);
      if (!node) return;
      const docker = this.deps.clients.forNode(node, commands.nodes);
      // Inspected, not listed: Docker sends `die` before its list says the container exited.
      const info = await inspectOrNull(docker, instance.containerId);
      const { drift } = await observeInstance(
        this.deps,
        docker,
        instance,
        info ? listedOf(info) : undefined,
        by,
        info ?? undefined,
      );
      if (drift && this.deps.policy === 'heal') this.deps.converge([instanceId]);
    };
    return this.deps.betweenPasses ? this.deps.betweenPasses(instanceId, look) : look();
  }
}
