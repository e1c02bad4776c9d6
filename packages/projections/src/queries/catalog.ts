import type { DriftKind } from '@tianqi/domain';
import type pg from 'pg';
import { camel } from './paging.js';

type NodeOut = Record<string, unknown> & { nodeId: string; name: string };

/** A node's row as handed out: the GPU holders the map is drawn from stay inside. */
function nodeOut(row: Record<string, unknown>): NodeOut {
  const { gpu_holders: _holders, ...rest } = row;
  return camel<NodeOut>(rest);
}

/**
 * Nodes with capacity used and free (running totals kept by the projection) and the per-GPU map.
 * Secrets are not in the table at all.
 */
export async function listNodes(pool: pg.Pool, options: { includeDeleted?: boolean } = {}) {
  const { rows } = await pool.query(
    `SELECT * FROM rm.nodes ${options.includeDeleted ? '' : 'WHERE NOT deleted'} ORDER BY name`,
  );
  return rows.map(nodeOut);
}

/** One node not deleted, as listNodes has it; null when there is none. */
export async function getNode(pool: pg.Pool, nodeId: string): Promise<NodeOut | null> {
  const { rows } = await pool.query('SELECT * FROM rm.nodes WHERE node_id = $1 AND NOT deleted', [nodeId]);
  return rows[0] ? nodeOut(rows[0]) : null;
}

/** The ids of the nodes not deleted: those the scheduler considers and the sync looks at. */
export async function liveNodeIds(pool: pg.Pool): Promise<string[]> {
  const { rows } = await pool.query<{ node_id: string }>('SELECT node_id FROM rm.nodes WHERE NOT deleted');
  return rows.map((r) => r.node_id);
}

export interface NodeStatusCount {
  status: string;
  count: number;
}

/** How many nodes (not deleted) are in each Docker connection status: for the metrics. */
export async function nodeCountsByDockerStatus(pool: pg.Pool): Promise<NodeStatusCount[]> {
  const { rows } = await pool.query<{ status: string; n: number }>(
    'SELECT docker_status AS status, count(*)::int AS n FROM rm.nodes WHERE NOT deleted GROUP BY docker_status',
  );
  return rows.map((r) => ({ status: r.status, count: r.n }));
}

export async function listImages(pool: pg.Pool, options: { listedOnly?: boolean } = {}) {
  const { rows } = await pool.query(
    `SELECT * FROM rm.images WHERE NOT deleted ${options.listedOnly ? 'AND listed' : ''} ORDER BY name`,
  );
  return rows.map((r) => camel<Record<string, unknown> & { imageId: string; name: string }>(r));
}

export async function listSpecs(pool: pg.Pool, options: { listedOnly?: boolean } = {}) {
  const { rows } = await pool.query(
    `SELECT *, price_per_hour::float8 AS price_per_hour FROM rm.specs
     WHERE NOT deleted ${options.listedOnly ? 'AND listed' : ''} ORDER BY specs.price_per_hour, specs.name`,
  );
  return rows.map((r) => camel<Record<string, unknown> & { specId: string; name: string }>(r));
}

/** Accounts with how many instances each has now (not deleted and gone), for the admin's list. */
export async function listUsers(pool: pg.Pool) {
  const { rows } = await pool.query(
    `SELECT u.*, coalesce(i.n, 0)::int AS instance_count FROM rm.users u
     LEFT JOIN (SELECT owner_id, count(*) AS n FROM rm.instances
                WHERE NOT (desired = 'deleted' AND observed = 'removed') GROUP BY owner_id) i
       ON i.owner_id = u.user_id
     ORDER BY u.username`,
  );
  return rows.map((r) => camel<Record<string, unknown> & { userId: string; username: string }>(r));
}

/** Whether an admin who may sign in exists: until one does, the platform waits for its first-run setup. */
export async function adminExists(pool: pg.Pool): Promise<boolean> {
  const { rows } = await pool.query<{ found: boolean }>(
    "SELECT EXISTS (SELECT 1 FROM rm.users WHERE role = 'admin' AND NOT disabled) AS found",
  );
  return rows[0]!.found;
}

/** Drift now (open) or all of it, newest first. */
export async function listDrift(pool: pg.Pool, options: { includeResolved?: boolean } = {}) {
  const { rows } = await pool.query(
    // A deleted node's orphans went with it.
    `SELECT d.* FROM rm.drift d LEFT JOIN rm.nodes n ON n.node_id = d.node_id
     WHERE ${options.includeResolved ? 'true' : 'd.open'} AND NOT coalesce(n.deleted, false)
     ORDER BY d.detected_at DESC, d.drift_id`,
  );
  return rows.map((r) =>
    camel<Record<string, unknown> & { driftId: string; kind: string; open: boolean }>(r),
  );
}

/**
 * The instances with open drift, of one kind or any, each once: an orphan container's drift counts
 * when its label names an instance. Drift on deleted nodes is not left out here (`listDrift` does).
 */
export async function openDriftInstanceIds(
  pool: pg.Pool,
  options: { kind?: DriftKind | 'orphan' } = {},
): Promise<string[]> {
  const { rows } = await pool.query<{ instance_id: string }>(
    `SELECT DISTINCT instance_id FROM rm.drift
     WHERE open AND instance_id IS NOT NULL AND ($1::text IS NULL OR kind = $1)`,
    [options.kind ?? null],
  );
  return rows.map((r) => r.instance_id);
}
