import type pg from 'pg';
import type { TableDef } from './projection.js';

type Row = Record<string, unknown>;

/**
 * The rows of one table that a batch touches, held in memory while the batch is folded into them and
 * written back with one statement each for upserts and deletes: a batch of thousands of events costs
 * three round trips, not thousands. Rows travel as JSON (to_jsonb / jsonb_populate_recordset), so
 * their in-memory form is the same whether they were just made or loaded.
 */
export class RowSet<R extends Row> {
  readonly #rows = new Map<string, R | null>();
  readonly #dirty = new Set<string>();
  readonly #qualified: string;

  constructor(
    private readonly client: pg.PoolClient,
    schema: string,
    private readonly table: TableDef,
  ) {
    if (table.key.length !== 1) throw new Error(`RowSet needs a one-column key (${table.name})`);
    this.#qualified = `${schema}.${table.name}`;
  }

  get #key(): string {
    return this.table.key[0]!;
  }

  /** Loads the rows with these keys (those not yet loaded) in one query. */
  async load(keys: Iterable<string>): Promise<void> {
    const wanted = [...new Set(keys)].filter((k) => !this.#rows.has(k));
    if (wanted.length === 0) return;
    const { rows } = await this.client.query<{ row: R }>(
      `SELECT to_jsonb(t) AS row FROM ${this.#qualified} t WHERE ${this.#key} = ANY($1::text[])`,
      [wanted],
    );
    for (const k of wanted) this.#rows.set(k, null);
    for (const { row } of rows) this.#rows.set(String(row[this.#key]), row);
  }

  get(key: string): R | undefined {
    return this.#rows.get(key) ?? undefined;
  }

  set(key: string, row: R): void {
    this.#rows.set(key, row);
    this.#dirty.add(key);
  }

  /** Changes a loaded row in place; a missing row is left alone (an event for something not projected). */
  update(key: string, change: (row: R) => Partial<R>): void {
    const row = this.get(key);
    if (row) this.set(key, { ...row, ...change(row) });
  }

  async flush(): Promise<void> {
    const upserts: R[] = [];
    for (const key of this.#dirty) {
      const row = this.#rows.get(key);
      if (row) upserts.push(row);
    }
    this.#dirty.clear();
    if (upserts.length === 0) return;
    const columns = Object.keys(this.table.columns);
    const updates = columns
      .filter((c) => !this.table.key.includes(c))
      .map((c) => `${c} = excluded.${c}`)
      .join(', ');
    await this.client.query(
      `INSERT INTO ${this.#qualified} (${columns.join(', ')})
       SELECT ${columns.join(', ')} FROM jsonb_populate_recordset(null::${this.#qualified}, $1::jsonb)
       ON CONFLICT (${this.#key}) DO UPDATE SET ${updates}`,
      [JSON.stringify(upserts)],
    );
  }
}

/** Appends rows to a table in one statement (for append-only read models such as the audit log). */
export async function insertRows(
  client: pg.PoolClient,
  schema: string,
  table: TableDef,
  rows: readonly Row[],
): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(table.columns).join(', ');
  const qualified = `${schema}.${table.name}`;
  await client.query(
    `INSERT INTO ${qualified} (${columns})
     SELECT ${columns} FROM jsonb_populate_recordset(null::${qualified}, $1::jsonb)`,
    [JSON.stringify(rows)],
  );
}
