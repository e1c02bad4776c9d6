import { START, type Subscription } from '@tianqi/events';
import { activeInstanceIds, type PlatformEvent, type PlatformStore } from '@tianqi/projections';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { Commands } from '../commands/index.js';
import { metadataOf, systemContext } from '../commands/index.js';
import { KeyedInFlight } from '../concurrency/keyed-in-flight.js';
import { KeyedMutex } from '../concurrency/keyed-mutex.js';
import { KeyedSemaphore } from '../concurrency/keyed-semaphore.js';
import { NodeClients } from '../docker/clients.js';
import { installationId } from '../docker/installation.js';
import { isLeaseLost } from '../replicas/lease-lost.js';
import type { NodeOwnership, NodeWork } from '../replicas/node-ownership.js';
import { failureReason } from './failure-reason.js';
import { type ReconcileDeps, reconcileInstance } from './reconcile-instance.js';
import { reconcileRetries } from './retries.js';
import { RetryLater } from './retry-later.js';
import { WorkQueue } from './work-queue.js';

const CONNECTION_FIELDS = ['dockerAddress', 'useTls', 'caCert', 'clientCert', 'clientKey'];
/** The reconciler's own notes on an instance: waking it for them would undo the retry's backoff. */
const OWN_NOTES = new Set(['ReconcileFailed', 'ReconcileRecovered']);
const system = systemContext('reconciler');
/** Who the reconciler's writes say they are by. */
const RECONCILER_ACTOR = metadataOf(system).actorUserId;

/**
 * What the reconciler records that still asks for a pass after it: a discarded container (the next
 * pass makes a new one), and a removed one (a deletion lost between that and its volumes, as when the
 * lease moves, is finished by whoever holds the node then: a deleted instance without its container
 * is no longer among the unfinished ones a new owner reads).
 */
const OWN_BUT_WAKES = new Set(['ContainerDiscarded', 'ContainerRemoved']);

/**
 * Whether an event should wake a pass over its instance. What a pass recorded of its own work wakes
 * none (the pass knew what it did, and went on or ended), but for OWN_BUT_WAKES. The same observations
 * by anyone else (the sync, the event follower) do wake one.
 */
function wakes(e: PlatformEvent): boolean {
  if (!e.streamId.startsWith('instance-') || OWN_NOTES.has(e.type)) return false;
  return e.metadata.actorUserId !== RECONCILER_ACTOR || OWN_BUT_WAKES.has(e.type);
}
type InstanceView = NonNullable<Awaited<ReturnType<Commands['instances']['get']>>>;

export interface ReconcilerOptions {
  store: PlatformStore;
  pool: pg.Pool;
  commands: Commands;
  logger: Logger;
  networkMode?: string;
  stopTimeoutSeconds?: number;
  /** Docker calls at once per node. */
  perNode?: number;
  /** Called when a node is registered or its connection settings change: test it at once. */
  onNodeConnectionChanged?: (nodeId: string) => void;
  /** `report`: an instance with open drift is left as it is until someone says "converge now". */
  driftPolicy?: 'report' | 'heal';
  /** Told how long each pass took, how it ended and over which instance (for the metrics). */
  onPass?: (seconds: number, outcome: 'done' | 'waiting' | 'failed', instanceId: string) => void;
  /** With several servers: only the nodes this one holds the lease of are acted on. Absent: all. */
  ownership?: NodeOwnership;
  /** "Converge now" asked here: the other servers are told, for the nodes they own. */
  tellOthers?: (instanceIds: readonly string[]) => void;
}

/**
 * The controller that turns what users ask for into Docker operations, level-triggered like a
 * Kubernetes controller: woken by new events (and by the sync, and by "converge now"), it looks at
 * each woken instance as a whole and acts until Docker agrees. Work is per instance, de-duplicated,
 * retried with backoff, and bounded per node.
 */
export class Reconciler implements NodeWork {
  readonly queue: WorkQueue;
  /** Passes running now, by node: a node given up waits for its own. */
  readonly #inFlight = new KeyedInFlight();
  /** The version of the event that last woke each instance queued (see #reconcile). */
  readonly #woken = new Map<string, number>();
  /** Instances passed over because their node's lease was elsewhere, by node: looked at if it comes here. */
  readonly #notOwned = new Map<string, Set<string>>();
  readonly #slots: KeyedSemaphore;
  readonly #deps: ReconcileDeps;
  #subscription: Subscription<PlatformEvent> | null = null;
  driftPolicy: 'report' | 'heal';
  readonly #forced = new Set<string>();
  /** Held by each pass over an instance, and by the looks that must not fall in the middle of one. */
  readonly #passes = new KeyedMutex();

  constructor(private readonly options: ReconcilerOptions) {
    this.#deps = {
      commands: options.commands,
      clients: new NodeClients(),
      networkMode: options.networkMode ?? '',
      stopTimeoutSeconds: options.stopTimeoutSeconds ?? 10,
      installation: '',
      fence: options.ownership ? (nodeId) => options.ownership!.fence(nodeId) : undefined,
    };
    this.#slots = new KeyedSemaphore(options.perNode ?? 4);
    this.driftPolicy = options.driftPolicy ?? 'heal';
    this.queue = new WorkQueue((id) => this.#passes.run(id, () => this.#reconcile(id)), {
      onError: (id, err, retry) => this.#failed(id, err, retry),
    });
  }

  /**
   * A pass that failed: logged, and made part of what the owner sees (the error and the next attempt
   * in the read model, the first failure and each new error in the history).
   */
  async #failed(instanceId: string, err: unknown, retry: { attempt: number; delayMs: number }) {
    const { logger, commands, pool } = this.options;
    // Another server acts on this node now: nothing to tell, and nothing this one may write.
    if (isLeaseLost(err)) {
      logger.debug({ instanceId }, 'reconcile stopped: the node is owned elsewhere now');
      return;
    }
    if (err instanceof RetryLater) logger.debug({ instanceId, reason: err.message }, 'reconcile waits');
    else logger.warn({ err, instanceId }, 'reconcile failed; will retry');
    const instance = await commands.instances.get(instanceId);
    if (!instance?.origin) return;
    const retryAt = new Date(Date.now() + retry.delayMs);
    try {
      const ctx = this.#context(instance.nodeId);
      await reconcileRetries.failed(pool, instanceId, retry.attempt, retryAt);
      await commands.instances.record(
        instanceId,
        {
          type: 'RecordReconcileFailed',
          reason: failureReason(err, instance.origin.node.name),
          retryAt: retryAt.toISOString(),
        },
        ctx,
      );
    } catch (recordErr) {
      logger.warn({ err: recordErr, instanceId }, 'could not record a reconcile failure');
    }
  }

  /**
   * A pass got through (or the instance now waits for an admin, not for a retry): the error is over.
   * Failing to say so is logged, never a failure of the pass (it is said at the next one).
   */
  async #recovered(instanceId: string, nodeId: string): Promise<void> {
    try {
      const ctx = this.#context(nodeId);
      await reconcileRetries.recovered(this.options.pool, instanceId);
      await this.options.commands.instances.record(instanceId, { type: 'RecordReconcileRecovered' }, ctx);
    } catch (err) {
      this.options.logger.warn({ err, instanceId }, 'could not record that a reconcile got through');
    }
  }

  /** Writes about a node's instances carry its lease's fence (throws LeaseLost when not held). */
  #context(nodeId: string) {
    return { ...system, fence: this.#deps.fence?.(nodeId) };
  }

  async #reconcile(instanceId: string): Promise<void> {
    // Woken by an event: the fold the feed has brought up to it will do (a later event wakes another
    // pass). Woken otherwise (sync, start, converge): read.
    const atLeastVersion = this.#woken.get(instanceId);
    this.#woken.delete(instanceId);
    const instance = await this.options.commands.instances.get(instanceId, { atLeastVersion });
    if (!instance) return;
    // Another server holds this node's lease: its reconciler does the work. Remembered, in case the
    // lease comes here next: its start reads the node's unfinished instances from a read model that
    // may not have this one yet (an instance created just as its node's lease is first taken).
    const { ownership } = this.options;
    if (ownership && !ownership.owns(instance.nodeId)) {
      const waiting = this.#notOwned.get(instance.nodeId) ?? new Set();
      this.#notOwned.set(instance.nodeId, waiting.add(instanceId));
      return;
    }
    await this.#inFlight.track(instance.nodeId, this.#pass(instanceId, instance));
  }

  async #pass(instanceId: string, instance: InstanceView): Promise<void> {
    // Under "report", drift is shown to admins, not acted on, until one of them converges it; a
    // deletion is always carried out.
    const forced = this.#forced.has(instanceId);
    if (
      this.driftPolicy === 'report' &&
      instance.drifts.length > 0 &&
      !forced &&
      instance.desired !== 'deleted'
    ) {
      // No retry comes: what it waits for now is an admin, shown as drift, not the old error.
      if (instance.reconcileError !== null) await this.#recovered(instanceId, instance.nodeId);
      return;
    }
    const t0 = performance.now();
    let outcome: 'done' | 'waiting' | 'failed' = 'failed';
    try {
      // Without a wait for the slot, the instance just read is still current enough to act on (every
      // write checks the stream's version); after one, this process's fold of it, which has what this
      // process wrote meanwhile (what others asked meanwhile wakes the queue, which runs it again).
      await this.#slots.run(instance.nodeId, (waited) =>
        reconcileInstance(this.#deps, instanceId, waited ? undefined : instance),
      );
      outcome = 'done';
      if (instance.reconcileError !== null) await this.#recovered(instanceId, instance.nodeId);
    } catch (err) {
      if (err instanceof RetryLater) outcome = 'waiting';
      throw err;
    } finally {
      this.options.onPass?.((performance.now() - t0) / 1000, outcome, instanceId);
    }
    this.#forced.delete(instanceId); // kept until a pass gets through, so a retry is still forced
  }

  /**
   * Runs `work` when no pass over the instance is under way, and holds the next one off until it is
   * done: a look at a container the reconciler is stopping or restarting would see it stopped for a
   * moment and take that for drift.
   */
  betweenPasses<T>(instanceId: string, work: () => Promise<T>): Promise<T> {
    return this.#passes.run(instanceId, work);
  }

  /** Queues every instance that is not finished, then follows new events. */
  async start(): Promise<void> {
    this.#deps.installation = await installationId(this.options.pool);
    const head = await this.options.store.head();
    for (const id of await this.pendingInstances()) this.queue.add(id);
    this.#subscription = this.options.store.subscribe({
      from: head.transactionId === START.transactionId ? START : head,
      handle: async (events) => {
        for (const e of events) {
          if (e.streamId.startsWith('instance-')) this.options.commands.instances.followed(e);
          if (wakes(e)) {
            const id = e.streamId.slice('instance-'.length);
            this.#woken.set(id, e.version);
            this.queue.add(id);
          }
          if (
            e.type === 'NodeRegistered' ||
            (e.type === 'NodeUpdated' && CONNECTION_FIELDS.some((f) => f in e.data.changes))
          ) {
            this.options.onNodeConnectionChanged?.(e.streamId.slice('node-'.length));
          }
          // A node that comes back: finish what waited for it.
          if (e.type === 'NodeDockerStatusChanged' && e.data.status === 'connected') {
            for (const id of await this.pendingInstances(e.streamId.slice('node-'.length)))
              this.queue.add(id);
          }
        }
      },
    });
  }

  /** This server now owns the node: everything unfinished on it is looked at. */
  async startNode(nodeId: string): Promise<void> {
    const skipped = this.#notOwned.get(nodeId) ?? new Set();
    this.#notOwned.delete(nodeId);
    for (const id of skipped) this.queue.add(id);
    for (const id of await this.pendingInstances(nodeId)) this.queue.add(id);
  }

  /** It no longer does: waits for its passes running now (each stops at its next Docker call). */
  async stopNode(nodeId: string): Promise<void> {
    await this.#inFlight.settled(nodeId);
  }

  /** Instances whose work may not be finished (all of them, or one node's). */
  pendingInstances(nodeId?: string): Promise<string[]> {
    return activeInstanceIds(this.options.pool, { nodeId });
  }

  /** "Converge now" for a whole node: every unfinished instance on it. */
  async convergeNode(nodeId: string): Promise<number> {
    const ids = await this.pendingInstances(nodeId);
    this.converge(ids);
    return ids.length;
  }

  /**
   * The sync's look for lost wake-ups: of these instances with work still owed, the ones nothing is
   * queued, running or retrying for are looked at (drift policy as usual). Returns how many.
   */
  wake(instanceIds: readonly string[]): number {
    const woken = instanceIds.filter((id) => this.queue.addIfIdle(id));
    if (woken.length > 0) {
      this.options.logger.info(
        { woken: woken.length, instanceIds: woken.slice(0, 20) },
        'work owed with nothing queued for it: looked at again',
      );
    }
    return woken.length;
  }

  /** "Converge now": act on these instances at once, drift or not (on whichever server owns each). */
  converge(instanceIds: readonly string[]): void {
    this.options.tellOthers?.(instanceIds);
    this.convergeHere(instanceIds);
  }

  /** "Converge now" for the instances of the nodes this server owns (told by another server). */
  convergeHere(instanceIds: readonly string[]): void {
    for (const id of instanceIds) {
      this.#forced.add(id);
      this.queue.add(id);
    }
  }

  idle(): Promise<void> {
    return this.queue.idle();
  }

  /** Stops following events (no new work comes in). */
  async unsubscribe(): Promise<void> {
    await this.#subscription?.stop();
    this.#subscription = null;
  }

  /** Stops following events and lets in-flight Docker calls finish. */
  async stop(): Promise<void> {
    await this.unsubscribe();
    await this.queue.stop();
  }
}
