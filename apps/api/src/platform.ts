import { hostname } from 'node:os';
import { createPool, EventStore } from '@tianqi/events';
import { liveNodeIds, type PlatformStore, ProjectionRunner, platformEvents } from '@tianqi/projections';
import type pg from 'pg';
import pino, { type Logger } from 'pino';
import type { Services } from './access/services.js';
import { AuthService } from './auth/auth-service.js';
import { FirstRun } from './auth/first-run.js';
import { LoginLimiter } from './auth/login-limiter.js';
import { forgetStaleSessions } from './auth/session-invalidation.js';
import { SessionStore } from './auth/sessions.js';
import { type Commands, createCommands, ensureAdmin } from './commands/index.js';
import type { Config } from './config/schema.js';
import { type Database, openDatabase } from './database/connect.js';
import { NodeClients } from './docker/clients.js';
import { NodeHealth } from './docker/node-health.js';
import { createHttpServer, mountApi } from './http/server.js';
import { Jumpbox } from './jumpbox/jumpbox.js';
import { ChangeFeed } from './live/change-feed.js';
import { cachedLiveNodeIds } from './live/live-node-ids.js';
import { ReadCache } from './live/read-cache.js';
import { PlatformMetrics } from './metrics/prometheus.js';
import { Reconciler } from './reconciler/reconciler.js';
import { NodeOwnership, nodeLease } from './replicas/node-ownership.js';
import { ReplicaBus } from './replicas/replica-bus.js';
import { ReplicaSet } from './replicas/replica-set.js';
import { loadSecretKey, SecretBox } from './security/secrets.js';
import { settleWithin } from './shutdown/settle-within.js';
import { registerLocalNode } from './start/local-node.js';
import { EventFollowers } from './sync/event-followers.js';
import { followNodeEdits } from './sync/follow-node-edits.js';
import { SyncService } from './sync/sync-service.js';
import { openTerminals } from './web-terminal/terminal-socket.js';

export interface RunningPlatform {
  url: string;
  database: Database;
  store: PlatformStore;
  projections: ProjectionRunner;
  commands: Commands;
  reconciler: Reconciler;
  sync: SyncService;
  /** Each node's Docker events, recorded as observations at once (the sync is the backstop). */
  followers: EventFollowers;
  services: Services;
  /** The SSH jumpbox and its port, when enabled. */
  jumpbox: { port: number } | null;
  /** This server among the others on its database: its leases (all of them when it is alone). */
  replicas: ReplicaSet;
  logger: Logger;
  stop(): Promise<void>;
}

export function createLogger(config: Config): Logger {
  return pino({ level: config.log.level, base: { service: 'tianqi' } });
}

export function openStore(database: Database, logger: Logger): PlatformStore {
  return new EventStore({
    pool: database.pool,
    registry: platformEvents,
    connectionString: database.url,
    onError: (err) => logger.warn({ err }, 'event store'),
  });
}

/**
 * Opens the database (embedded or configured), applies migrations, brings the read models up to date,
 * creates the configured first admin, and starts serving HTTP.
 */
export async function startPlatform(config: Config, logger = createLogger(config)): Promise<RunningPlatform> {
  const database = await openDatabase(config, logger);
  const store = openStore(database, logger);
  const projections = new ProjectionRunner({
    store,
    onError: (err) => logger.error({ err }, 'projection runner'),
    onRebuild: (r) =>
      logger.info({ readModels: r.projections, events: r.events, seconds: r.seconds }, 'read models built'),
  });
  const app = createHttpServer({
    pool: database.pool,
    logger,
    requestTimeoutSeconds: config.server['request-timeout-seconds'],
    trustedProxies: config.server['trusted-proxies']
      .split(',')
      .map((p) => p.trim())
      .filter((p) => p !== ''),
  });
  const metrics = new PlatformMetrics();
  let jumpbox: Jumpbox | undefined;
  let jumpboxPort = 0;
  let reconciler: Reconciler | undefined;
  let sync: SyncService | undefined;
  let replicas: ReplicaSet | undefined;
  let leasePool: pg.Pool | undefined;
  const bus = new ReplicaBus(database.pool, database.url, logger);
  // Per-node work runs where the node's lease is held: alone, this server holds every one.
  const ownership = new NodeOwnership((lease) => replicas?.fence(lease) ?? null);
  let followers: EventFollowers | undefined;
  let following: { stop(): Promise<void> } | undefined;
  try {
    await projections.start();
    const commands = createCommands(
      store,
      new SecretBox(await loadSecretKey(config.secrets.key, config['data-dir'])),
      { nodeIds: cachedLiveNodeIds(database.pool, projections) },
    );
    if (config.admin.username !== '') {
      const outcome = await ensureAdmin(commands.users, config.admin);
      logger.info({ username: config.admin.username, outcome }, 'first admin from configuration');
    }
    await registerLocalNode(database.pool, commands, config.docker, logger);
    await projections.waitFor(await store.head());
    const live = new Reconciler({
      store,
      pool: database.pool,
      commands,
      logger,
      networkMode: config.docker['network-mode'],
      stopTimeoutSeconds: config.docker['stop-timeout-seconds'],
      perNode: config.docker['calls-per-node'],
      driftPolicy: config.sync['drift-policy'],
      onNodeConnectionChanged: (nodeId) => sync?.checkSoon(nodeId),
      onPass: (seconds, outcome) => metrics.reconcilePass.observe({ outcome }, seconds),
      ownership,
      tellOthers: (instanceIds) => bus.send({ kind: 'converge', instanceIds: [...instanceIds] }),
    });
    reconciler = live;
    const clients = new NodeClients();
    sync = new SyncService(
      {
        pool: database.pool,
        commands,
        clients,
        health: new NodeHealth(),
        policy: config.sync['drift-policy'],
        diskPolicy: config.sync['disk-policy'],
        diskUsageTimeoutMs: config.sync['disk-usage-timeout-seconds'] * 1000,
        logger,
        converge: (ids) => live.converge(ids),
        wake: (ids) => live.wake(ids),
      },
      {
        onSynced: (report) => metrics.syncDuration.observe(report.ms / 1000),
        ownership,
        tellOthers: () => bus.send({ kind: 'sync' }),
      },
    );
    followers = new EventFollowers({
      pool: database.pool,
      commands,
      clients,
      policy: config.sync['drift-policy'],
      logger,
      converge: (ids) => live.converge(ids),
      betweenPasses: (id, work) => live.betweenPasses(id, work),
      fence: (nodeId) => ownership.fence(nodeId),
      metrics: metrics.followers,
    });
    await ownership.add(live);
    await ownership.add(sync);
    await ownership.add(followers);
    await live.start();
    following = await followNodeEdits(followers, store);
    sync.start(config.sync['interval-seconds']);
    const sessions = new SessionStore(database.pool, {
      idleMinutes: config.auth['session-idle-minutes'],
      maxHours: config.auth['session-max-hours'],
    });
    const limiter = new LoginLimiter({
      maxFailures: config.auth['max-failures'],
      windowMs: config.auth['lockout-minutes'] * 60_000,
    });
    limiter.shareWith((kind, username, ip) => bus.send({ kind, username, ip }));
    sessions.shareWith((who) => bus.ask({ kind: 'forget', ...who }, (replicas?.live.length ?? 1) - 1));
    const liveSync = sync;
    bus.on((m) => {
      if (m.kind === 'converge') live.convergeHere(m.instanceIds);
      else if (m.kind === 'sync') liveSync.runInBackground();
      else if (m.kind === 'forget') {
        if (m.sessionId) sessions.forgetSession(m.sessionId);
        if (m.userId) sessions.forgetUser(m.userId);
      } else if (m.kind !== 'ack') limiter.heard(m.kind, m.username, m.ip);
    });
    await bus.listen();
    const auth = new AuthService({
      store,
      users: commands.users,
      sessions,
      limiter,
      logger,
      onLogin: (outcome, via) => metrics.logins.inc({ outcome, via }),
    });
    // Before the port opens: the code exists (and is printed) before anyone can reach the setup.
    const firstRun = new FirstRun({
      pool: database.pool,
      projections,
      users: commands.users,
      sessions,
      limiter,
      auth,
      dataDir: config['data-dir'],
      logger,
    });
    await firstRun.prepare();
    const services: Services = {
      config,
      pool: database.pool,
      store,
      projections,
      commands,
      reconciler: live,
      sync,
      streamClients: new NodeClients({ timeoutMs: 0 }),
      feed: new ChangeFeed(projections),
      reads: new ReadCache(projections),
      sessions,
      auth,
      firstRun,
      metrics,
      logger,
    };
    const detachSessions = projections.onApplied((events) => {
      forgetStaleSessions(sessions, events);
      firstRun.onApplied(events);
    });
    metrics.attach({
      pool: database.pool,
      queueDepth: () => live.queue.depth,
      projectionPosition: () => projections.position,
      readModelsSetAside: () => projections.failed.map((f) => f.name),
      eventStreams: () => followers?.connected ?? 0,
    });
    await mountApi(app, services);
    const sweep = setInterval(() => {
      sessions.sweep().catch((err: unknown) => logger.warn({ err }, 'session sweep failed'));
    }, 3_600_000);
    sweep.unref();
    await app.listen({ host: config.server.host, port: config.server.port });
    // After listening: by default a replica is named by its address, and holding the port proves that
    // an earlier run at that address is over, so this one takes that run's leases back at once.
    const port = (app.server.address() as { port: number }).port;
    // Heartbeats and renewals on connections of their own: never queued behind the platform's work
    // (a start over 10,000 instances fills the main pool, and a renewal waiting there loses leases).
    // The share-out's list of nodes too: it waited there behind a sync of 100 nodes for seconds.
    const ownPool = createPool(database.url, { max: 2 });
    leasePool = ownPool;
    replicas = new ReplicaSet({
      pool: ownPool,
      replica: config.replicas.id || `${hostname()}:${port}`,
      leaseMs: config.replicas['lease-seconds'] * 1000,
      leases: async () => (await liveNodeIds(ownPool)).map(nodeLease),
      work: {
        acquired: (lease) => ownership.acquired(lease.slice('node:'.length)),
        lost: (lease) => ownership.lost(lease.slice('node:'.length)),
      },
      logger,
      onChange: (held, liveReplicas) => {
        metrics.leasesHeld.set(held);
        metrics.replicasLive.set(liveReplicas);
      },
    });
    await replicas.start();
    if (config.jumpbox.enabled) {
      jumpbox = new Jumpbox(services, {
        port: config.jumpbox.port,
        host: config.jumpbox.host,
        hostKey: config.jumpbox['host-key'],
        dataDir: config['data-dir'],
        banner: config.jumpbox.banner,
        idleMinutes: config.jumpbox['idle-minutes'],
        admission: {
          loginGraceSeconds: config.jumpbox['login-grace-seconds'],
          handshakeSeconds: config.jumpbox['handshake-seconds'],
          maxUnauthenticated: config.jumpbox['max-unauthenticated'],
          maxUnauthenticatedPerAddress: config.jumpbox['max-unauthenticated-per-address'],
        },
        maxConnections: config.jumpbox['max-connections'],
      });
      jumpboxPort = await jumpbox.start();
    }
    const host = config.server.host === '0.0.0.0' ? 'localhost' : config.server.host;
    let stopping: Promise<void> | undefined;
    return {
      url: `http://${host}:${config.server.port}`,
      database,
      store,
      projections,
      commands,
      logger,
      reconciler: reconciler!,
      sync: sync!,
      followers: followers!,
      services,
      jumpbox: jumpbox ? { port: jumpboxPort } : null,
      replicas,
      stop: () => {
        stopping ??= (async () => {
          clearInterval(sweep);
          detachSessions();
          await jumpbox?.stop();
          services.feed.close();
          // In-flight requests finish; open streams (followed logs, watches) get 5 s, then are cut.
          const cut = setTimeout(() => app.server.closeAllConnections(), 5_000);
          await app.close();
          clearTimeout(cut);
          // Terminals closed by the server hang their shells up and record their sessions first.
          await settleWithin([...openTerminals], 10_000);
          // The leases go first (each node's work stopped, then freed for the others at once), then no
          // new work is taken, then in-flight Docker calls finish, before the database goes.
          await replicas?.stop();
          await leasePool?.end();
          await bus.close();
          await reconciler?.unsubscribe();
          await following?.stop();
          await followers?.stop();
          await sync?.stop();
          await reconciler?.stop();
          await projections.stop();
          await store.close();
          await database.close();
        })();
        return stopping;
      },
    };
  } catch (err) {
    await replicas?.stop().catch(() => {});
    await leasePool?.end().catch(() => {});
    await bus.close();
    await jumpbox?.stop().catch(() => {});
    await following?.stop().catch(() => {});
    await followers?.stop().catch(() => {});
    await sync?.stop().catch(() => {});
    await reconciler?.stop().catch(() => {});
    await app.close().catch(() => {});
    await projections.stop().catch(() => {});
    await store.close().catch(() => {});
    await database.close();
    throw err;
  }
}
