import type pg from 'pg';
import type { MenuEntry } from './menu.js';

export interface JumpUser {
  userId: string;
  username: string;
  role: 'admin' | 'user';
}

const COLUMNS = `i.instance_id, i.name, u.username AS owner_name, i.container_id, i.node_name, i.observed, i.owner_id`;

interface Row {
  instance_id: string;
  name: string;
  owner_name: string;
  container_id: string | null;
  node_name: string;
  observed: string;
  owner_id: string;
}

const entryOf = (r: Row): MenuEntry & { ownerId: string } => ({
  instanceId: r.instance_id,
  name: r.name,
  ownerName: r.owner_name,
  containerId: r.container_id ?? '',
  nodeName: r.node_name,
  observed: r.observed,
  ownerId: r.owner_id,
});

/** The instances a user may open that have a container (admins: everyone's), by owner and name. */
export async function menuEntries(pool: pg.Pool, user: JumpUser): Promise<MenuEntry[]> {
  const { rows } = await pool.query<Row>(
    `SELECT ${COLUMNS} FROM rm.instances i JOIN rm.users u ON u.user_id = i.owner_id
     WHERE i.container_id IS NOT NULL AND i.desired <> 'deleted' AND i.observed <> 'removed'
       AND ($1::text IS NULL OR i.owner_id = $1)
     ORDER BY u.username, i.name`,
    [user.role === 'admin' ? null : user.userId],
  );
  return rows.map(entryOf);
}

/**
 * The instance a straight route names (`alice+myinst`, or `admin+bob/inst` for admins), if the user
 * may open it. Anyone else's instance is answered as not existing.
 */
export async function routeTarget(
  pool: pg.Pool,
  user: JumpUser,
  target: { owner: string | null; name: string },
): Promise<MenuEntry | null> {
  const owner = target.owner ?? user.username;
  if (owner.toLowerCase() !== user.username.toLowerCase() && user.role !== 'admin') return null;
  const { rows } = await pool.query<Row>(
    `SELECT ${COLUMNS} FROM rm.instances i JOIN rm.users u ON u.user_id = i.owner_id
     WHERE lower(u.username) = lower($1) AND lower(i.name) = lower($2) AND i.desired <> 'deleted'
     ORDER BY i.created_at DESC LIMIT 1`,
    [owner, target.name],
  );
  const entry = rows[0] ? entryOf(rows[0]) : null;
  return entry && (user.role === 'admin' || entry.ownerId === user.userId) ? entry : null;
}

/** The same check again at the moment of connecting: the row as it is now, if still the user's. */
export async function stillAllowed(
  pool: pg.Pool,
  user: JumpUser,
  instanceId: string,
): Promise<MenuEntry | null> {
  const { rows } = await pool.query<Row>(
    `SELECT ${COLUMNS} FROM rm.instances i JOIN rm.users u ON u.user_id = i.owner_id WHERE i.instance_id = $1`,
    [instanceId],
  );
  const entry = rows[0] ? entryOf(rows[0]) : null;
  return entry && (user.role === 'admin' || entry.ownerId === user.userId) ? entry : null;
}
