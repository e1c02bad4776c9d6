import type pg from 'pg';
import type { PlatformEvent } from './platform-events.js';

/** A table of a read model, declared once: the DDL for the live schema and for rebuilds comes from it. */
export interface TableDef {
  name: string;
  /** Primary key columns. */
  key: readonly string[];
  /** Column name → SQL type. */
  columns: Readonly<Record<string, string>>;
  /** Extra indexes, each a column list such as `owner_id, created_at`. */
  indexes?: readonly string[];
}

export interface ApplyContext {
  client: pg.PoolClient;
  /** Where this projection's tables are: `rm`, or the schema a rebuild fills. */
  schema: string;
}

/** A read model: its tables and how a batch of events (in global order) changes them. */
export interface Projection {
  name: string;
  /** Bump when the tables or the meaning of the rows change: the read model is rebuilt at start. */
  version: number;
  tables: readonly TableDef[];
  apply(ctx: ApplyContext, events: readonly PlatformEvent[]): Promise<void>;
}

export const LIVE_SCHEMA = 'rm';

export function tableDdl(schema: string, table: TableDef): string {
  const columns = Object.entries(table.columns).map(([name, type]) => `${name} ${type}`);
  const statements = [
    `CREATE TABLE ${schema}.${table.name} (${columns.join(', ')}, PRIMARY KEY (${table.key.join(', ')}))`,
  ];
  for (const index of table.indexes ?? [])
    statements.push(`CREATE INDEX ON ${schema}.${table.name} (${index})`);
  return statements.join(';\n');
}
