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
