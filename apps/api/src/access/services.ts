import type { PlatformStore, ProjectionRunner } from '@tianqi/projections';
import type pg from 'pg';
import type { Logger } from 'pino';
import type { AuthService } from '../auth/auth-service.js';
import type { FirstRun } from '../auth/first-run.js';
import type { SessionStore } from '../auth/sessions.js';
import type { Commands } from '../commands/index.js';
import type { Config } from '../config/schema.js';
import type { NodeClients } from '../docker/clients.js';
import type { ChangeFeed } from '../live/change-feed.js';
import type { ReadCache } from '../live/read-cache.js';
import type { PlatformMetrics } from '../metrics/prometheus.js';
import type { Reconciler } from '../reconciler/reconciler.js';
import type { SyncService } from '../sync/sync-service.js';

/** Everything a request handler may use: the platform's parts, made once at start. */
export interface Services {
  config: Config;
  pool: pg.Pool;
  store: PlatformStore;
  projections: ProjectionRunner;
  commands: Commands;
  reconciler: Reconciler;
  sync: SyncService;
  /** Docker clients for streams (logs, terminals): no idle timeout. */
  streamClients: NodeClients;
  /** What the read models just took in: drives the live subscriptions. */
  feed: ChangeFeed;
  /** Query answers kept while the read models stay where they were. */
  reads: ReadCache;
  auth: AuthService;
  /** The first admin, made from the web app with a setup code while there is none. */
  firstRun: FirstRun;
  sessions: SessionStore;
  metrics: PlatformMetrics;
  logger: Logger;
}
