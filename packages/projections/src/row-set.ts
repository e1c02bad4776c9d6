import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { ApplyContext, TableDef } from './projection.js';

type Row = Record<string, unknown>;

/**
 * What a rebuild keeps in memory across batches: every row it has made or changed, and the rows it
 * will append, so that replaying the log costs no database round trip per batch; everything is
 * written once at the end in bulk. Past `limit` rows it writes what it has and starts afresh
 * ("spills"), and from then on asks the database for rows it does not hold.
 */
export class RebuildCache {
  readonly tables = new Map<
    string,
    { def: TableDef; rows: Map<string, Row | null>; dirty: Set<string>; finish?: (row: Row) => Row }
  >();
  readonly appends = new Map<string, { def: TableDef; rows: Row[] }>();
  spilled = false;
  #size = 0;

  constructor(readonly limit = 250_000) {}

  table(qualified: string, def: TableDef, finish?: (row: Row) => Row) {
    let t = this.tables.get(qualified);
    if (!t) {
      t = { def, rows: new Map(), dirty: new Set(), finish };
      this.tables.set(qualified, t);
    }
    return t;
  }

  counted(n: number): void {
    this.#size += n;
  }

  get full(): boolean {
    return this.#size >= this.limit;
  }

  /**
   * Writes every changed row and pending append, each table on its own connection at once, and
   * forgets them. Until the first spill the tables are empty, so rows are plainly inserted.
   */
  async spill(pool: pg.Pool, inTransaction: SpillTransaction): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const [qualified, t] of this.tables) {
      const rows = [...t.dirty].flatMap((k) => {
        const row = t.rows.get(k);
        return row ? [t.finish ? t.finish(row) : row] : [];
      });
      writes.push(
        inTransaction(pool, (c) =>
          this.spilled
            ? inChunks(rows, (chunk) => upsert(c, qualified, t.def, chunk))
            : copyRows(c, qualified, t.def, rows),
        ),
      );
    }
    for (const [qualified, a] of this.appends) {
      writes.push(inTransaction(pool, (c) => copyRows(c, qualified, a.def, a.rows)));
    }
    await Promise.all(writes);
    if (this.#size > 0) this.spilled = true;
    this.tables.clear();
    this.appends.clear();
    this.#size = 0;
  }
}

export type SpillTransaction = (pool: pg.Pool, fn: (client: pg.PoolClient) => Promise<void>) => Promise<void>;

async function inChunks<T>(rows: readonly T[], write: (chunk: readonly T[]) => Promise<void>): Promise<void> {
  for (let i = 0; i < rows.length; i += 5_000) await write(rows.slice(i, i + 5_000));
}

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

  /** Writes the changed rows (a rebuild leaves them in its cache until it spills). */
  async flush(): Promise<void> {
    if (this.#cache) return;
    const rows: R[] = [];
    for (const key of this.#dirty) {
      const row = this.#rows.get(key);
      if (row) rows.push(this.finish ? this.finish(row) : row);
    }
    this.#dirty.clear();
    await upsert(this.#client, this.#qualified, this.table, rows);
  }
}

async function upsert(
  client: pg.PoolClient,
  qualified: string,
  table: TableDef,
  rows: readonly Row[],
): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.keys(table.columns);
  const updates = columns
    .filter((c) => !table.key.includes(c))
    .map((c) => `${c} = excluded.${c}`)
    .join(', ');
  await client.query(
    `INSERT INTO ${qualified} (${columns.join(', ')})
     SELECT ${columns.join(', ')} FROM jsonb_populate_recordset(null::${qualified}, $1::jsonb)
     ON CONFLICT (${table.key.join(', ')}) DO UPDATE SET ${updates}`,
    [JSON.stringify(rows)],
  );
}

/** COPY's text format: tab between columns, \N for null, and backslash escapes inside values. */
function copyValue(value: unknown, type: string): string {
  if (value === null || value === undefined) return '\\N';
  const text =
    type === 'jsonb'
      ? JSON.stringify(value)
      : typeof value === 'boolean'
        ? value
          ? 't'
          : 'f'
        : String(value);
  return text.replace(/[\\\t\n\r]/g, (c) =>
    c === '\\' ? '\\\\' : c === '\t' ? '\\t' : c === '\n' ? '\\n' : '\\r',
  );
}

/**
 * Inserts with COPY: the cheapest way into PostgreSQL, for the rows a rebuild writes at the end (far
 * less work for the server than taking a JSON document apart) and for append-only rows.
 */
async function copyRows(
  client: pg.PoolClient,
  qualified: string,
  table: TableDef,
  rows: readonly Row[],
): Promise<void> {
  if (rows.length === 0) return;
  const columns = Object.entries(table.columns).map(([name, sql]) => ({
    name,
    type: sql.replace(/ NOT NULL$/, ''),
  }));
  function* lines() {
    for (let i = 0; i < rows.length; i += 500) {
      let chunk = '';
      for (const row of rows.slice(i, i + 500)) {
        chunk += `${columns.map((c) => copyValue(row[c.name], c.type)).join('\t')}\n`;
      }
      yield chunk;
    }
  }
  const sink = client.query(
    copyFrom(`COPY ${qualified} (${columns.map((c) => c.name).join(', ')}) FROM STDIN`),
  );
  await pipeline(Readable.from(lines()), sink);
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
