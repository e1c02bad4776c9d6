import { createHash } from 'node:crypto';
import type { EventSchemaMap } from '@tianqi/domain';
import { decideClaim, decideRelease, type NameClaimEvent, normalizeName, streams } from '@tianqi/domain';
import type { AppendBatch } from '@tianqi/events';
import { type AggregateLoader, aggregates } from './aggregates.js';

export type Batch = AppendBatch<EventSchemaMap>;

/** Which names must be unique, and among what. */
export type NameScope = 'user' | 'node' | 'image' | 'spec' | `instance.${string}`;

const WHAT: Record<string, string> = {
  user: 'the username',
  node: 'the node name',
  image: 'the image name',
  spec: 'the spec name',
};

export function nameStream(scope: NameScope, name: string): string {
  const key = createHash('sha256')
    .update(`${scope}\n${normalizeName(name)}`)
    .digest('hex')
    .slice(0, 40);
  return streams.name(scope.split('.')[0]!, key);
}

async function loadClaim(loader: AggregateLoader, scope: NameScope, name: string, cached = false) {
  const streamId = nameStream(scope, name);
  return { streamId, ...(await loader.load(streamId, aggregates.name, { cached })) };
}

/**
 * The append that claims `name` for `holderId` (empty when it already holds it); throws when taken.
 * `cached`: decided on the claim as last loaded (its expected version still guards the append).
 */
export async function claimName(
  loader: AggregateLoader,
  scope: NameScope,
  name: string,
  holderId: string,
  cached = false,
): Promise<Batch> {
  const { streamId, state, version } = await loadClaim(loader, scope, name, cached);
  const what = WHAT[scope] ?? 'the instance name';
  const events: NameClaimEvent[] = decideClaim(state, { scope, name: name.trim(), holderId, what });
  return { streamId, expectedVersion: version, events };
}

export async function releaseName(
  loader: AggregateLoader,
  scope: NameScope,
  name: string,
  holderId: string,
): Promise<Batch> {
  const { streamId, state, version } = await loadClaim(loader, scope, name);
  return { streamId, expectedVersion: version, events: decideRelease(state, holderId) };
}

/** Who holds a name now (null when free): how a username finds its user. */
export async function nameHolder(
  loader: AggregateLoader,
  scope: NameScope,
  name: string,
): Promise<string | null> {
  return (await loadClaim(loader, scope, name)).state.holderId;
}
