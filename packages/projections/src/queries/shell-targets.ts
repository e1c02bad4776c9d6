import type pg from 'pg';

/** An instance as the SSH jumpbox offers it: enough to list it, check its owner and open its container. */
export interface ShellTarget {
  instanceId: string;
  name: string;
  ownerId: string;
  ownerName: string;
  containerId: string | null;
  nodeName: string;
  observed: string;
}

const COLUMNS = `i.instance_id, i.name, i.owner_id, u.username AS owner_name, i.container_id, i.node_name, i.observed`;
const FROM = 'FROM rm.instances i JOIN rm.users u ON u.user_id = i.owner_id';

interface Row {
  instance_id: string;
  name: string;
  owner_id: string;
  owner_name: string;
  container_id: string | null;
  node_name: string;
  observed: string;
}

const targetOf = (r: Row): ShellTarget => ({
  instanceId: r.instance_id,
  name: r.name,
  ownerId: r.owner_id,
  ownerName: r.owner_name,
  containerId: r.container_id,
  nodeName: r.node_name,
  observed: r.observed,
});

/**
 * The instances with a container that is not being deleted or removed, one owner's or (null) everyone's,
 * by owner name and instance name.
 */
export async function shellTargets(
  pool: pg.Pool,
  options: { ownerId: string | null },
): Promise<ShellTarget[]> {
  const { rows } = await pool.query<Row>(
    `SELECT ${COLUMNS} ${FROM}
     WHERE i.container_id IS NOT NULL AND i.desired <> 'deleted' AND i.observed <> 'removed'
       AND ($1::text IS NULL OR i.owner_id = $1)
     ORDER BY u.username, i.name`,
    [options.ownerId],
  );
  return rows.map(targetOf);
}

/** The instance not being deleted with this name and this owner's username, both in any case. */
export async function shellTargetByName(
  pool: pg.Pool,
  ownerName: string,
  name: string,
): Promise<ShellTarget | null> {
  const { rows } = await pool.query<Row>(
    `SELECT ${COLUMNS} ${FROM}
     WHERE lower(u.username) = lower($1) AND lower(i.name) = lower($2) AND i.desired <> 'deleted'
     ORDER BY i.created_at DESC LIMIT 1`,
    [ownerName, name],
  );
  return rows[0] ? targetOf(rows[0]) : null;
}

/** One instance as it is now, whatever its state. */
export async function shellTarget(pool: pg.Pool, instanceId: string): Promise<ShellTarget | null> {
  const { rows } = await pool.query<Row>(`SELECT ${COLUMNS} ${FROM} WHERE i.instance_id = $1`, [instanceId]);
  return rows[0] ? targetOf(rows[0]) : null;
}
