import { normalizeName } from '@tianqi/domain';
import type { PlatformStore } from '@tianqi/projections';
import type { AggregateLoader } from './aggregates.js';
import type { CommandContext } from './context.js';
import { type CommandResult, execute } from './execute.js';
import { newId } from './ids.js';
import { type Batch, claimName, releaseName } from './names.js';

interface Definition<S, C, E> {
  /** Whose names are unique among themselves. */
  scope: 'image' | 'spec' | 'node';
  stream: (id: string) => string;
  aggregate: { initial: S; decide: (command: C, state: S) => E[] };
  create: (id: string, fields: Record<string, unknown>) => C;
  update: (changes: Record<string, unknown>) => C;
  remove: C;
}

/**
 * Create, update and delete for the admin-managed aggregates with a unique name (images, specs,
 * nodes): the name is claimed with the creation, moved with a rename and freed with the deletion, all
 * in the same append as the aggregate's own events.
 */
export function namedAggregateCommands<S extends { name: string }, C, E>(
  store: PlatformStore,
  loader: AggregateLoader,
  def: Definition<S, C, E>,
) {
  const load = (id: string) =>
    loader.load(def.stream(id), def.aggregate as never) as Promise<{ state: S; version: number }>;
  const own = (id: string, expectedVersion: number | 'no_stream', events: E[]) =>
    ({ streamId: def.stream(id), expectedVersion, events }) as Batch;
  return {
    create(fields: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult> {
      const id = newId();
      return execute(store, ctx, id, def.stream(id), async () => {
        const events = def.aggregate.decide(def.create(id, fields), def.aggregate.initial);
        return [own(id, 'no_stream', events), await claimName(loader, def.scope, String(fields.name), id)];
      });
    },
    update(id: string, changes: Record<string, unknown>, ctx: CommandContext): Promise<CommandResult> {
      return execute(store, ctx, id, def.stream(id), async () => {
        const { state, version } = await load(id);
        const events = def.aggregate.decide(def.update(changes), state);
        // "Rack-A" → "rack-a" keeps the same claim: only a different normalised name moves it.
        const renamed =
          events.length > 0 &&
          typeof changes.name === 'string' &&
          normalizeName(changes.name) !== normalizeName(state.name);
        return [
          own(id, version, events),
          ...(renamed
            ? [
                await claimName(loader, def.scope, changes.name as string, id),
                await releaseName(loader, def.scope, state.name, id),
              ]
            : []),
        ];
      });
    },
    remove(id: string, ctx: CommandContext): Promise<CommandResult> {
      return execute(store, ctx, id, def.stream(id), async () => {
        const { state, version } = await load(id);
        const events = def.aggregate.decide(def.remove, state);
        return [own(id, version, events), await releaseName(loader, def.scope, state.name, id)];
      });
    },
  };
}
