import { observedStateSchema, parseOrThrow } from '@tianqi/domain';
import type pg from 'pg';
import { z } from 'zod';
import { camel, type Page, pageSchema, whereBuilder } from './paging.js';

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
  if (!f.includeDeleted) w.raw(`NOT (desired = 'deleted' AND observed = 'removed')`);
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
