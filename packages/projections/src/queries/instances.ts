import { observedStateSchema, parseOrThrow } from '@tianqi/domain';
import { afterPositionSql, type GlobalPosition, positionParams } from '@tianqi/events';
import type pg from 'pg';
import { z } from 'zod';
import { camel, type Page, pageSchema, whereBuilder } from './paging.js';

/**
 * An instance still there: not deleted with its container removed (the SQL side of the domain's
 * `instanceGone`). Unqualified columns of `rm.instances`.
 */
const NOT_GONE = `NOT (desired = 'deleted' AND observed = 'removed')`;

export const instanceFilterSchema = z.strictObject({
  ownerId: z.string().max(64).optional(),
  nodeId: z.string().max(64).optional(),
  desired: z.enum(['running', 'stopped', 'deleted']).optional(),
  observed: observedStateSchema.optional(),
  /** Part of the name, any case. */
  name: z.string().max(63).optional(),
  /** Deleted instances whose container is gone are left out unless asked for. */
  includeDeleted: z.boolean().default(false),
  ...pageSchema,
});
export type InstanceFilter = z.input<typeof instanceFilterSchema>;

export interface InstanceRow {
  instanceId: string;
  name: string;
  ownerId: string;
  nodeId: string;
  nodeName: string;
  imageId: string;
  imageName: string;
  imageAddress: string;
  specId: string;
  specName: string;
  spec: Record<string, unknown>;
  allocation: Record<string, unknown>;
  allocationHeld: boolean;
  desired: string;
  observed: string;
  containerId: string | null;
  containerName: string | null;
  exitCode: number | null;
  oomKilled: boolean;
  failure: { phase: string; reason: string } | null;
  /** What the platform keeps failing on (null once a pass gets through); `since`, `retryAt`: ISO times. */
  reconcileError: { reason: string; since: string; retryAt: string; attempts?: number } | null;
  remark: string;
  createdAt: Date;
  updatedAt: Date;
  version: number;
}

export async function listInstances(
  pool: pg.Pool,
  rawFilter: InstanceFilter = {},
): Promise<Page<InstanceRow>> {
  const f = parseOrThrow(instanceFilterSchema, rawFilter, 'filter');
  const w = whereBuilder();
  const add = w.add;

  if (f.ownerId !== undefined) add('owner_id = ?', f.ownerId);
  if (f.nodeId !== undefined) add('node_id = ?', f.nodeId);
  if (f.desired !== undefined) add('desired = ?', f.desired);
  if (f.observed !== undefined) add('observed = ?', f.observed);
  if (f.name !== undefined)
    add(`name ILIKE ? ESCAPE '\\'`, `%${f.name.replace(/[\\%_]/g, (c) => `\\${c}`)}%`);
  if (!f.includeDeleted) w.raw(NOT_GONE);
  const { clause, params } = w;
  // The page and the count as two queries at once: a window count would make PostgreSQL read and
  // sort every matching row to hand out fifty.
  const [page, total] = await Promise.all([
    pool.query<Record<string, unknown>>(
      `SELECT * FROM rm.instances ${clause}
       ORDER BY created_at DESC, instance_id LIMIT $${params.length + 1} OFFSET $${params.length + 2}`,
      [...params, f.limit, f.offset],
    ),
    countInstances(pool, clause, params),
  ]);
  return { items: page.rows.map((r) => camel<InstanceRow>(r)), total, limit: f.limit, offset: f.offset };
}

async function countInstances(pool: pg.Pool, clause: string, params: unknown[]): Promise<number> {
  const { rows } = await pool.query<{ n: string }>(
    `SELECT count(*) AS n FROM rm.instances ${clause}`,
    params,
  );
  return Number(rows[0]!.n);
}

export async function getInstance(pool: pg.Pool, instanceId: string): Promise<InstanceRow | null> {
  const { rows } = await pool.query('SELECT * FROM rm.instances WHERE instance_id = $1', [instanceId]);
  return rows[0] ? camel<InstanceRow>(rows[0]) : null;
}

/** These instances' rows (in no particular order), only the owner's when an owner is given: one query. */
export async function instancesByIds(
  pool: pg.Pool,
  instanceIds: readonly string[],
  options: { ownerId?: string | null } = {},
): Promise<InstanceRow[]> {
  const { rows } = await pool.query(
    'SELECT * FROM rm.instances WHERE instance_id = ANY($1) AND ($2::text IS NULL OR owner_id = $2)',
    [instanceIds, options.ownerId ?? null],
  );
  return rows.map((r) => camel<InstanceRow>(r));
}

/** Past this many events or instances, a resume is not worth it: the whole list is cheaper. */
const RESUME_EVENTS = 20_000;
const RESUME_INSTANCES = 500;

/**
 * The instances (only the owner's when an owner is given) with events after a position: what a list
 * subscription picking up where it left off must send again. Null when that is too far back to be
 * worth it (over 20 000 events or 500 instances): the caller then sends the whole list.
 */
export async function instancesChangedSince(
  pool: pg.Pool,
  since: GlobalPosition,
  options: { ownerId?: string | null } = {},
): Promise<string[] | null> {
  const { rows } = await pool.query<{ id: string }>(
    `SELECT DISTINCT i.instance_id AS id
     FROM (SELECT stream_id FROM events
           WHERE ${afterPositionSql(1)}
           ORDER BY transaction_id, position LIMIT ${RESUME_EVENTS}) e
     JOIN rm.instances i ON e.stream_id = 'instance-' || i.instance_id
     WHERE $3::text IS NULL OR i.owner_id = $3
     LIMIT ${RESUME_INSTANCES + 1}`,
    [...positionParams(since), options.ownerId ?? null],
  );
  return rows.length > RESUME_INSTANCES ? null : rows.map((r) => r.id);
}

/**
 * The instances not gone, all of them or one node's: those whose work may not be finished (the
 * reconciler) and those a node should hold (the sync).
 */
export async function activeInstanceIds(pool: pg.Pool, options: { nodeId?: string } = {}): Promise<string[]> {
  const { rows } = await pool.query<{ instance_id: string }>(
    `SELECT instance_id FROM rm.instances WHERE ${NOT_GONE} AND ($1::text IS NULL OR node_id = $1)`,
    [options.nodeId ?? null],
  );
  return rows.map((r) => r.instance_id);
}

export interface InstanceStateCount {
  desired: string;
  observed: string;
  count: number;
}

/** How many instances are in each (desired, observed) pair, gone ones left out: for the metrics. */
export async function instanceCountsByState(pool: pg.Pool): Promise<InstanceStateCount[]> {
  const { rows } = await pool.query<{ desired: string; observed: string; n: number }>(
    `SELECT desired, observed, count(*)::int AS n FROM rm.instances WHERE ${NOT_GONE} GROUP BY desired, observed`,
  );
  return rows.map((r) => ({ desired: r.desired, observed: r.observed, count: r.n }));
}
