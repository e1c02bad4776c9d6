import type pg from 'pg';
import type { ApplyContext } from './projection.js';
import type { RebuildCache } from './rebuild-cache.js';
import { copyRows, deleteRows, type Row, upsert } from './row-writes.js';
import type { TableDef } from './table-def.js';

/**
 * The rows of one table that a batch touches, held in memory while the batch is folded into them and
 * written back with one statement: a batch of thousands of events costs two round trips, not
 * thousands. During a rebuild they live in the RebuildCache instead and cost none. Rows travel as
 * JSON (to_jsonb / jsonb_populate_recordset), so their in-memory form is the same whether they were
 * just made or loaded.
 */
export class RowSet<R extends Row> {
  readonly #rows: Map<string, R | null>;
  readonly #dirty: Set<string>;
  readonly #qualified: string;
  readonly #client: pg.PoolClient;
  readonly #cache: RebuildCache | undefined;

  constructor(
    ctx: ApplyContext,
    private readonly table: TableDef,
    private readonly finish?: (row: R) => R,
  ) {
    if (table.key.length !== 1) throw new Error(`RowSet needs a one-column key (${table.name})`);
    this.#qualified = `${ctx.schema}.${table.name}`;
    this.#client = ctx.client;
    this.#cache = ctx.cache;
    const cached = ctx.cache?.table(this.#qualified, table, finish as ((row: Row) => Row) | undefined);
    this.#rows = (cached?.rows as Map<string, R | null>) ?? new Map();
    this.#dirty = cached?.dirty ?? new Set();
  }

  get #key(): string {
    return this.table.key[0]!;
  }

  /** Loads the rows with these keys (those not yet loaded) in one query. */
  async load(keys: Iterable<string>): Promise<void> {
    const wanted = [...new Set(keys)].filter((k) => !this.#rows.has(k));
    if (wanted.length === 0) return;
    this.#cache?.counted(wanted.length);
    for (const k of wanted) this.#rows.set(k, null);
    // A rebuild that has written nothing yet holds every row there is: the others do not exist.
    if (this.#cache && !this.#cache.spilled) return;
    const { rows } = await this.#client.query<{ row: R }>(
      `SELECT to_jsonb(t) AS row FROM ${this.#qualified} t WHERE ${this.#key} = ANY($1::text[])`,
      [wanted],
    );
    for (const { row } of rows) this.#rows.set(String(row[this.#key]), row);
  }

  get(key: string): R | undefined {
    return this.#rows.get(key) ?? undefined;
  }

  set(key: string, row: R): void {
    this.#rows.set(key, row);
    this.#dirty.add(key);
  }

  /** The row is gone: deleted when written back. */
  delete(key: string): void {
    this.#rows.set(key, null);
    this.#dirty.add(key);
  }

  /** Writes the changed rows and deletes the gone ones (a rebuild keeps them in its cache until it spills). */
  async flush(): Promise<void> {
    if (this.#cache) return;
    const rows: R[] = [];
    const gone: string[] = [];
    for (const key of this.#dirty) {
      const row = this.#rows.get(key);
      if (row) rows.push(this.finish ? this.finish(row) : row);
      else gone.push(key);
    }
    this.#dirty.clear();
    await deleteRows(this.#client, this.#qualified, this.table, gone);
    await upsert(this.#client, this.#qualified, this.table, rows);
  }
}

/** Appends rows to a table in one statement (for append-only read models such as the audit log). */
export async function insertRows(ctx: ApplyContext, table: TableDef, rows: readonly Row[]): Promise<void> {
  if (rows.length === 0) return;
  const qualified = `${ctx.schema}.${table.name}`;
  if (ctx.cache) {
    let pending = ctx.cache.appends.get(qualified);
    if (!pending) {
      pending = { def: table, rows: [] };
      ctx.cache.appends.set(qualified, pending);
    }
    pending.rows.push(...rows);
    ctx.cache.counted(rows.length);
    return;
  }
  await copyRows(ctx.client, qualified, table, rows);
}
