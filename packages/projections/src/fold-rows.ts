import type { PlatformEvent } from './platform-events.js';
import type { ApplyContext } from './projection.js';
import { RowSet } from './row-set.js';
import type { TableDef } from './table-def.js';

export type Row = Record<string, unknown>;

/** The aggregate id of an event's stream: `instance-abc123` → `abc123`. */
export function streamKey(event: PlatformEvent, prefix: string): string {
  return event.streamId.slice(prefix.length + 1);
}

/**
 * The common shape of a one-row-per-aggregate read model: the batch's events of streams `prefix-*` are
 * folded into their rows (loaded in one query, written back in one).
 */
export async function foldRows<R extends Row>(
  ctx: ApplyContext,
  table: TableDef,
  prefix: string,
  events: readonly PlatformEvent[],
  fold: (row: R | undefined, event: PlatformEvent) => R | undefined,
  /** Columns derived from the rest, computed once per row when it is written rather than per event. */
  finish?: (row: R) => R,
): Promise<void> {
  const mine = events.filter((e) => e.streamId.startsWith(`${prefix}-`));
  if (mine.length === 0) return;
  const rows = new RowSet<R>(ctx, table, finish);
  await rows.load(mine.map((e) => streamKey(e, prefix)));
  for (const event of mine) {
    const key = streamKey(event, prefix);
    const next = fold(rows.get(key), event);
    if (!next) continue;
    // In place: the row belongs to this RowSet, and a rebuild folds millions of these.
    Object.assign(next, { version: event.version, updated_at: event.recordedAt.toISOString() });
    rows.set(key, next);
  }
  await rows.flush();
}

/** Columns every aggregate row has. */
export const rowStamp = {
  created_at: 'timestamptz NOT NULL',
  updated_at: 'timestamptz NOT NULL',
  version: 'integer NOT NULL',
} as const;

/** camelCase keys of an update → the row's snake_case columns (only those the row has). */
export function snakeChanges(changes: Record<string, unknown>, rename: Record<string, string> = {}): Row {
  const out: Row = {};
  for (const [key, value] of Object.entries(changes)) {
    if (value === undefined) continue;
    out[rename[key] ?? key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)] = value;
  }
  return out;
}
