import type { GlobalPosition } from '@tianqi/events';
import type pg from 'pg';
import type { PlatformEvent } from './platform-events.js';
import type { RebuildCache } from './row-set.js';

/** A table of a read model, declared once: the DDL for the live schema and for rebuilds comes from it. */
export interface TableDef {
  name: string;
  /** Primary key columns. */
  key: readonly string[];
  /** Column name → SQL type. */
  columns: Readonly<Record<string, string>>;
  /** Extra indexes, each a column list such as `owner_id, created_at`, or `USING brin (column)`. */
  indexes?: readonly string[];
}

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

/** The table with its primary key (which upserts need while it is filled). */
export function tableDdl(schema: string, table: TableDef): string {
  const columns = Object.entries(table.columns).map(([name, type]) => `${name} ${type}`);
  return `CREATE TABLE ${schema}.${table.name} (${columns.join(', ')}, PRIMARY KEY (${table.key.join(', ')}))`;
}

/** Its other indexes: a rebuild makes them once the table is full, far cheaper than row by row. */
export function indexDdl(schema: string, table: TableDef): string[] {
  return (table.indexes ?? []).map((index) =>
    index.startsWith('USING ')
      ? `CREATE INDEX ON ${schema}.${table.name} ${index}`
      : `CREATE INDEX ON ${schema}.${table.name} (${index})`,
  );
}
