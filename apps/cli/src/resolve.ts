import type { RouterOutputs } from '@tianqi/api/client';
import { TRPCClientError } from '@trpc/client';
import type { ApiClient } from './api-client.js';
import { CliError, SignedOutError } from './command.js';

export type Outputs = RouterOutputs;
export type Instance = Outputs['instances']['get'];

/** What the server's ids look like: anything else can only be a name. */
const ID = /^[a-z0-9]{6,40}$/;

const isNotFound = (err: unknown) =>
  err instanceof TRPCClientError &&
  (err.data as { tianqiCode?: string } | undefined)?.tianqiCode === 'not_found';

const gone = (i: Instance) => i.desired === 'deleted' && i.observed === 'removed';

/**
 * An instance by id (any the caller may see) or by name (the caller's own). A name may have been
 * used before by a deleted instance: the live one wins, else the newest, so `history` and
 * `wait --state removed` still find an instance just deleted.
 */
export async function findInstance(api: ApiClient, ref: string): Promise<Instance> {
  if (ID.test(ref)) {
    try {
      return await api.instances.get.query({ instanceId: ref });
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }
  const me = await api.auth.me.query();
  if (!me) throw new SignedOutError('the session has ended: run `tianqi login`');
  const named =
    ref.length > 63
      ? []
      : (
          await api.instances.list.query({
            name: ref,
            includeDeleted: true,
            ownerId: me.role === 'admin' ? me.userId : undefined,
            limit: 500,
          })
        ).items.filter((i) => i.name === ref && i.ownerId === me.userId);
  const live = named.filter((i) => !gone(i));
  if (live.length > 1) throw new CliError(`more than one instance is named ${ref}: use its id`);
  const found = live[0] ?? named[0];
  if (!found) {
    throw new CliError(
      `no instance ${ref}${me.role === 'admin' ? ' of yours (other users’ instances go by id)' : ''}`,
    );
  }
  return found;
}

/** One of a list by id or by name (or, for images, by address). */
export function pick<T>(items: T[], ref: string, what: string, keys: ((item: T) => string)[]): T {
  for (const key of keys) {
    const hits = items.filter((item) => key(item) === ref);
    if (hits.length > 1) throw new CliError(`more than one ${what} is called ${ref}: use its id`);
    if (hits[0]) return hits[0];
  }
  throw new CliError(`no ${what} ${ref}`);
}

/** An id as given when it looks like one and no name matched (the server then says whether it exists). */
export function pickId<T>(
  items: T[],
  ref: string,
  what: string,
  keys: ((item: T) => string)[],
  id: (item: T) => string,
) {
  try {
    return id(pick(items, ref, what, keys));
  } catch (err) {
    if (ID.test(ref) && err instanceof CliError && err.message.startsWith('no ')) return ref;
    throw err;
  }
}

export async function imageId(api: ApiClient, ref: string): Promise<string> {
  const images = await api.images.list.query({ includeUnlisted: true });
  return pickId(images, ref, 'image', [(i) => i.imageId, (i) => i.name, (i) => i.address], (i) => i.imageId);
}

export async function specId(api: ApiClient, ref: string): Promise<string> {
  const specs = await api.specs.list.query({ includeUnlisted: true });
  return pickId(specs, ref, 'spec', [(s) => s.specId, (s) => s.name], (s) => s.specId);
}

/** For admins' node commands: every node. */
export async function nodeId(api: ApiClient, ref: string): Promise<string> {
  const nodes = await api.nodes.list.query({ includeDeleted: false });
  return pickId(nodes, ref, 'node', [(n) => n.nodeId, (n) => n.name], (n) => n.nodeId);
}

/** For `instance create --node`: the nodes that could host the spec now, which users may see. */
export async function candidateNodeId(api: ApiClient, spec: string, ref: string): Promise<string> {
  const { candidates, rejected } = await api.nodes.available.query({ specId: spec });
  const hit = candidates.find((n) => n.nodeId === ref || n.name === ref);
  if (hit) return hit.nodeId;
  const refused = rejected?.find((n) => n.nodeId === ref || n.name === ref);
  if (refused) throw new CliError(`node ${ref} cannot host this spec: ${refused.reasons.join('; ')}`);
  if (ID.test(ref)) return ref;
  throw new CliError(`no node ${ref} can host this spec now`);
}

export async function userId(api: ApiClient, ref: string): Promise<string> {
  const users = await api.users.list.query();
  return pickId(users, ref, 'user', [(u) => u.userId, (u) => u.username], (u) => u.userId);
}
