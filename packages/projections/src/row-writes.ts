import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { TableDef } from './table-def.js';

export type Row = Record<string, unknown>;

/** Upserts rows (their in-memory JSON form) into a table in one statement. */
export async function upsert(
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

/** Deletes the rows with these keys (of a table with a one-column key) in one statement. */
export async function deleteRows(
  client: pg.PoolClient,
  qualified: string,
  table: TableDef,
  keys: readonly string[],
): Promise<void> {
  if (keys.length === 0) return;
  await client.query(`DELETE FROM ${qualified} WHERE ${table.key[0]} = ANY($1::text[])`, [keys]);
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
export async function copyRows(
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
