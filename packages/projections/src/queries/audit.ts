import { parseOrThrow } from '@tianqi/domain';
import type pg from 'pg';
import { z } from 'zod';
import { describeEvent } from '../describe.js';
import { type PlatformEvent, platformEvents } from '../platform-events.js';
import { camel, type Page, pageSchema, whereBuilder } from './paging.js';

export interface AuditEntry {
  position: number;
  transactionId: number;
  streamId: string;
  streamVersion: number;
  type: string;
  actorUserId: string | null;
  /** The actor's username when the actor is a user. */
  actorName: string | null;
  actorIp: string | null;
  commandId: string | null;
  correlationId: string | null;
  recordedAt: Date;
  instanceId: string | null;
  summary: string;
}

export const auditFilterSchema = z.strictObject({
  actorUserId: z.string().max(200).optional(),
  streamId: z.string().max(200).optional(),
  type: z.string().max(100).optional(),
  /** Any of these types. */
  types: z.array(z.string().max(100)).max(50).optional(),
  instanceId: z.string().max(64).optional(),
  /** Events on the node's own stream and those of the instances placed on it. */
  nodeId: z.string().max(64).optional(),
  from: z.date().optional(),
  to: z.date().optional(),
  /** Keyset paging: only entries past these positions (the page's edge), so no page costs an offset. */
  after: z.number().int().min(0).optional(),
  before: z.number().int().min(0).optional(),
  /** Oldest first (the default) or newest first. */
  order: z.enum(['asc', 'desc']).default('asc'),
  ...pageSchema,
});
export type AuditFilter = z.input<typeof auditFilterSchema>;

/** The audit log in the order events were written, filtered by actor, stream, type, instance and time. */
export async function auditLog(pool: pg.Pool, rawFilter: AuditFilter = {}): Promise<Page<AuditEntry>> {
  const f = parseOrThrow(auditFilterSchema, rawFilter, 'filter');
  // The count is of everything the filter passes, wherever the page's cursor stands.
  const all = auditWhere({ ...f, after: undefined, before: undefined });
  const { clause, params } = auditWhere(f);
  const { rows: count } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM rm.audit_log a ${all.clause}`,
    all.params,
  );
  return {
    items: (await auditRows(pool, clause, params, `LIMIT ${f.limit} OFFSET ${f.offset}`, f.order)).map(
      withoutData,
    ),
    total: Number(count[0]!.n),
    limit: f.limit,
    offset: f.offset,
  };
}

/**
 * The entries after `afterPosition` (0: from the start) that pass the filter, at most `limit`, not
 * counted: for reading the whole log page by page (the export), where an offset would make each page
 * slower than the last and a count per page would read everything each time.
 */
export async function auditLogAfter(
  pool: pg.Pool,
  rawFilter: Omit<AuditFilter, 'limit' | 'offset'>,
  afterPosition: number,
  limit: number,
): Promise<AuditEntry[]> {
  const f = parseOrThrow(auditFilterSchema, rawFilter, 'filter');
  const where = auditWhere(f, afterPosition);
  return (await auditRows(pool, where.clause, where.params, `LIMIT ${Math.max(1, Math.trunc(limit))}`)).map(
    withoutData,
  );
}

function auditWhere(f: z.output<typeof auditFilterSchema>, afterPosition?: number) {
  const w = whereBuilder();
  const add = w.add;

  if (f.actorUserId !== undefined) add('a.actor_user_id = ?', f.actorUserId);
  if (f.streamId !== undefined)
    add('a.position IN (SELECT position FROM events WHERE stream_id = ?)', f.streamId);
  if (f.type !== undefined) add('a.type = ?', f.type);
  if (f.types !== undefined) add('a.type = ANY(?)', f.types);
  if (f.instanceId !== undefined) add('a.instance_id = ?', f.instanceId);
  if (f.nodeId !== undefined) {
    w.params.push(f.nodeId);
    const n = `$${w.params.length}`;
    w.raw(
      `(a.position IN (SELECT position FROM events WHERE stream_id = 'node-' || ${n})
        OR a.instance_id IN (SELECT instance_id FROM rm.instances WHERE node_id = ${n}))`,
    );
  }
  // A bound on the position is put on the events' side of the join too: PostgreSQL does not carry an
  // inequality across the join's equality, and without it walked the events from the far end to the
  // page (a page half-way into a million rows took a second, the export of them hours). Only the
  // pages have bounds, never the counts, which read the audit log alone.
  const bound = (op: '>' | '<', value: number) => {
    w.params.push(value);
    w.raw(`a.position ${op} $${w.params.length} AND e.position ${op} $${w.params.length}`);
  };
  if (f.after !== undefined) bound('>', f.after);
  if (f.before !== undefined) bound('<', f.before);
  if (f.from !== undefined) add('a.recorded_at >= ?', f.from);
  if (f.to !== undefined) add('a.recorded_at < ?', f.to);
  if (afterPosition !== undefined) bound('>', afterPosition);
  return w;
}

/** An entry with its event's data: for an instance's history, whose readers render it in their language. */
export type HistoryEntry = AuditEntry & { data: Record<string, unknown> };

// The global log leaves the data out: a user's events hold what only the platform reads.
const withoutData = ({ data: _data, ...entry }: HistoryEntry): AuditEntry => entry;

async function auditRows(
  pool: pg.Pool,
  clause: string,
  params: unknown[],
  page: string,
  order: 'asc' | 'desc' = 'asc',
): Promise<HistoryEntry[]> {
  const { rows } = await pool.query<AuditRow>(
    `SELECT a.position, e.transaction_id::text::bigint AS transaction_id, e.stream_id, e.stream_version, e.type, a.actor_user_id,
            u.username AS actor_name, e.metadata->>'actorIp' AS actor_ip, e.metadata->>'commandId' AS command_id,
            e.metadata->>'correlationId' AS correlation_id, e.recorded_at, a.instance_id, e.data
     FROM rm.audit_log a
     JOIN events e ON e.position = a.position
     LEFT JOIN rm.users u ON u.user_id = a.actor_user_id
     ${clause} ORDER BY a.position ${order === 'desc' ? 'DESC' : 'ASC'} ${page}`,
    params,
  );
  return rows.map(({ data, ...r }) => {
    const event = { type: r.type, data: platformEvents.parse(r.type, data, `at position ${r.position}`) };
    return {
      ...camel<Omit<AuditEntry, 'summary'>>(r),
      summary: describeEvent(event as PlatformEvent),
      data: event.data as Record<string, unknown>,
    };
  });
}

type AuditRow = Record<string, unknown> & { type: string; data: unknown; position: string };

/**
 * An instance's history (its newest 500 events, oldest first: a long-lived instance shows what
 * happened lately): its own events and its allocation and release on the node, each with its data.
 */
export async function instanceHistory(pool: pg.Pool, instanceId: string): Promise<HistoryEntry[]> {
  const { clause, params } = auditWhere(parseOrThrow(auditFilterSchema, { instanceId }, 'filter'));
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM rm.audit_log a ${clause}`,
    params,
  );
  const skip = Math.max(0, Number(rows[0]!.n) - 500);
  return auditRows(pool, clause, params, `LIMIT 500 OFFSET ${skip}`);
}
