import { type ShellTarget, shellTarget, shellTargetByName, shellTargets } from '@tianqi/projections';
import type pg from 'pg';
import type { MenuEntry } from './menu.js';

export interface JumpUser {
  userId: string;
  username: string;
  role: 'admin' | 'user';
}

const entryOf = (t: ShellTarget): MenuEntry & { ownerId: string } => ({
  instanceId: t.instanceId,
  name: t.name,
  ownerName: t.ownerName,
  containerId: t.containerId ?? '',
  nodeName: t.nodeName,
  observed: t.observed,
  ownerId: t.ownerId,
});

/** Admins may open everyone's instances, users their own. */
const mayOpen = (user: JumpUser, target: ShellTarget | null): MenuEntry | null =>
  target && (user.role === 'admin' || target.ownerId === user.userId) ? entryOf(target) : null;

/** The instances a user may open that have a container (admins: everyone's), by owner and name. */
export async function menuEntries(pool: pg.Pool, user: JumpUser): Promise<MenuEntry[]> {
  const targets = await shellTargets(pool, { ownerId: user.role === 'admin' ? null : user.userId });
  return targets.map(entryOf);
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
  return mayOpen(user, await shellTargetByName(pool, owner, target.name));
}

/** The same check again at the moment of connecting: the row as it is now, if still the user's. */
export async function stillAllowed(
  pool: pg.Pool,
  user: JumpUser,
  instanceId: string,
): Promise<MenuEntry | null> {
  return mayOpen(user, await shellTarget(pool, instanceId));
}
