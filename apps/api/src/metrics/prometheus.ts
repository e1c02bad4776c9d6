import type { GlobalPosition } from '@tianqi/events';
import { instanceCountsByState, nodeCountsByDockerStatus, projectionLagSeconds } from '@tianqi/projections';
import type pg from 'pg';
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';

export interface MetricSources {
  pool: pg.Pool;
  /** The reconciler's queue: instances waiting or in work. */
  queueDepth: () => number;
  /** Where the read models have got to. */
  projectionPosition: () => GlobalPosition;
  /** Read models set aside after failing (they fall behind until a restart). */
  readModelsSetAside: () => string[];
  /** Docker event streams open now. */
  eventStreams?: () => number;
}

/**
 * What /metrics shows Prometheus: instances by state, nodes by Docker status, the reconciler's queue
 * and pass latency, how far the read models lag, sync duration, the Docker event streams, sign-ins, and
 * the process itself.
 * Gauges over the read models are read at scrape time, so they cost nothing between scrapes.
 */
export class PlatformMetrics {
  readonly registry = new Registry();
  readonly logins: Counter<'outcome' | 'via'>;
  readonly reconcilePass: Histogram<'outcome'>;
  readonly syncDuration: Histogram;
  readonly httpRequests: Histogram<'method' | 'route' | 'status'>;
  readonly terminals: Gauge;
  readonly leasesHeld: Gauge;
  readonly replicasLive: Gauge;
  readonly dockerEvents: Counter<'action'>;
  readonly dockerEventReconnects: Counter;
  #sources: MetricSources | null = null;

  constructor() {
    const registers = [this.registry];
    collectDefaultMetrics({ register: this.registry, prefix: 'tianqi_process_' });
    this.leasesHeld = new Gauge({
      name: 'tianqi_leases_held',
      help: 'Leases of single-writer work (one per node) this server holds now.',
      registers,
    });
    this.replicasLive = new Gauge({
      name: 'tianqi_replicas_live',
      help: 'API servers alive on this database, this one included.',
      registers,
    });
    this.logins = new Counter({
      name: 'tianqi_logins_total',
      help: 'Sign-in attempts by outcome (success, failure, limited) and channel (web, cli, ssh).',
      labelNames: ['outcome', 'via'],
      registers,
    });
    this.reconcilePass = new Histogram({
      name: 'tianqi_reconcile_pass_seconds',
      help: 'How long one reconciler pass over an instance took (Docker calls included).',
      labelNames: ['outcome'],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers,
    });
    this.syncDuration = new Histogram({
      name: 'tianqi_sync_duration_seconds',
      help: 'How long one sync of every node took.',
      buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30],
      registers,
    });
    this.httpRequests = new Histogram({
      name: 'tianqi_http_request_seconds',
      help: 'HTTP requests by method, route and status.',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
      registers,
    });
    this.dockerEvents = new Counter({
      name: 'tianqi_docker_events_total',
      help: "Container events received from the nodes' Docker event streams, by action (start, die, oom, destroy).",
      labelNames: ['action'],
      registers,
    });
    this.dockerEventReconnects = new Counter({
      name: 'tianqi_docker_event_reconnects_total',
      help: "Times a node's Docker event stream was connected again after it broke or could not be opened.",
      registers,
    });
    this.terminals = new Gauge({
      name: 'tianqi_terminals_open',
      help: 'Web terminal sessions open now.',
      registers,
    });
    const self = this;
    new Gauge({
      name: 'tianqi_instances',
      help: 'Instances by desired and observed state (deleted and removed ones left out).',
      labelNames: ['desired', 'observed'],
      registers,
      async collect() {
        this.reset();
        if (!self.#sources) return;
        for (const r of await instanceCountsByState(self.#sources.pool))
          this.set({ desired: r.desired, observed: r.observed }, r.count);
      },
    });
    new Gauge({
      name: 'tianqi_nodes',
      help: 'Nodes by Docker connection status.',
      labelNames: ['status'],
      registers,
      async collect() {
        this.reset();
        if (!self.#sources) return;
        for (const r of await nodeCountsByDockerStatus(self.#sources.pool))
          this.set({ status: r.status }, r.count);
      },
    });
    new Gauge({
      name: 'tianqi_docker_event_streams',
      help: 'Docker event streams open now (one per followed node).',
      registers,
      collect() {
        this.set(self.#sources?.eventStreams?.() ?? 0);
      },
    });
    new Gauge({
      name: 'tianqi_reconciler_queue_depth',
      help: 'Instances waiting for, or in, a reconciler pass.',
      registers,
      collect() {
        this.set(self.#sources?.queueDepth() ?? 0);
      },
    });
    new Gauge({
      name: 'tianqi_projection_lag_seconds',
      help: 'Age of the oldest event the read models have not taken in yet (0 when up to date).',
      registers,
      async collect() {
        if (!self.#sources) return;
        this.set(await projectionLagSeconds(self.#sources.pool, self.#sources.projectionPosition()));
      },
    });
    new Gauge({
      name: 'tianqi_read_models_set_aside',
      help: 'Read models set aside after failing the same events again and again (1 each): they fall behind until a restart; the log says why.',
      labelNames: ['read_model'],
      registers,
      collect() {
        this.reset();
        for (const name of self.#sources?.readModelsSetAside() ?? []) this.set({ read_model: name }, 1);
      },
    });
  }

  /** What the event followers count. */
  readonly followers = {
    received: (action: string) => this.dockerEvents.inc({ action }),
    reconnecting: () => this.dockerEventReconnects.inc(),
  };

  attach(sources: MetricSources): void {
    this.#sources = sources;
  }
}
