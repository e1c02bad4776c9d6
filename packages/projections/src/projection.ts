import type { GlobalPosition } from '@tianqi/events';
import type pg from 'pg';
import type { PlatformEvent } from './platform-events.js';
import type { RebuildCache } from './rebuild-cache.js';
import type { TableDef } from './table-def.js';

export interface ApplyContext {
  client: pg.PoolClient;
  /** Where this projection's tables are: `rm`, or the schema a rebuild fills. */
  schema: string;
  /** During a rebuild: rows kept in memory across batches (see RebuildCache). */
  cache?: RebuildCache;
}

/** A read model: its tables and how a batch of events (in global order) changes them. */
export interface Projection {
  name: string;
  /** Bump when the tables or the meaning of the rows change: the read model is rebuilt at start. */
  version: number;
  tables: readonly TableDef[];
  apply(ctx: ApplyContext, events: readonly PlatformEvent[]): Promise<void>;
  /**
   * For a rebuild: fills the (empty) tables with everything up to and including `upTo` in one
   * set-based statement, with exactly the rows `apply` would have made. Returns the events covered.
   */
  fillFromLog?(ctx: ApplyContext, upTo: GlobalPosition): Promise<number>;
}

export const LIVE_SCHEMA = 'rm';
