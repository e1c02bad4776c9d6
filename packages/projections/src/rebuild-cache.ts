import type pg from 'pg';
import { copyRows, deleteRows, type Row, upsert } from './row-writes.js';
import type { TableDef } from './table-def.js';

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
   * forgets them. Until the first spill the tables are empty, so rows are plainly inserted (and a row
   * made and deleted in memory never reaches them); after it, deleted rows are deleted.
   */
  async spill(pool: pg.Pool, inTransaction: SpillTransaction): Promise<void> {
    const writes: Promise<void>[] = [];
    for (const [qualified, t] of this.tables) {
      const rows: Row[] = [];
      const gone: string[] = [];
      for (const k of t.dirty) {
        const row = t.rows.get(k);
        if (row) rows.push(t.finish ? t.finish(row) : row);
        else gone.push(k);
      }
      writes.push(
        inTransaction(pool, async (c) => {
          if (!this.spilled) return copyRows(c, qualified, t.def, rows);
          await deleteRows(c, qualified, t.def, gone);
          await inChunks(rows, (chunk) => upsert(c, qualified, t.def, chunk));
        }),
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
