import { type ImageCommand, type SpecCommand, streams, TianqiError } from '@tianqi/domain';
import type { PlatformStore } from '@tianqi/projections';
import { type AggregateLoader, aggregates } from './aggregates.js';
import type { CommandContext } from './context.js';
import { type CommandResult, execute } from './execute.js';
import { newId } from './ids.js';
import { type Batch, claimName, releaseName } from './names.js';

type Register<C, T extends string> = Omit<Extract<C, { type: T }>, 'type' | 'imageId' | 'specId'>;
type Changes<C, T extends string> = Extract<C, { type: T }> extends { changes: infer X } ? X : never;

export interface CatalogCommands {
  registerImage(input: Register<ImageCommand, 'RegisterImage'>, ctx: CommandContext): Promise<CommandResult>;
  updateImage(
    imageId: string,
    changes: Changes<ImageCommand, 'UpdateImage'>,
    ctx: CommandContext,
  ): Promise<CommandResult>;
  deleteImage(imageId: string, ctx: CommandContext): Promise<CommandResult>;
  createSpec(input: Register<SpecCommand, 'CreateSpec'>, ctx: CommandContext): Promise<CommandResult>;
  updateSpec(
    specId: string,
    changes: Changes<SpecCommand, 'UpdateSpec'>,
    ctx: CommandContext,
  ): Promise<CommandResult>;
  deleteSpec(specId: string, ctx: CommandContext): Promise<CommandResult>;
}

/** Renaming claims the new name and frees the old one in the same append. */
async function renameBatches(
  loader: AggregateLoader,
  scope: 'image' | 'spec' | 'node',
  id: string,
  oldName: string,
  newName: string | undefined,
): Promise<Batch[]> {
  if (newName === undefined || newName.trim() === oldName) return [];
  return [await claimName(loader, scope, newName, id), await releaseName(loader, scope, oldName, id)];
}

export function catalogCommands(store: PlatformStore, loader: AggregateLoader): CatalogCommands {
  const image = (id: string) => loader.load(streams.image(id), aggregates.image);
  const spec = (id: string) => loader.load(streams.spec(id), aggregates.spec);
  const nameOf = (input: { name?: unknown }) => {
    if (typeof input.name !== 'string') throw new TianqiError('validation', 'name: a name is required');
    return input.name;
  };
  return {
    registerImage(input, ctx) {
      const imageId = newId();
      return execute(store, ctx, imageId, streams.image(imageId), async () => {
        const events = aggregates.image.decide(
          { type: 'RegisterImage', imageId, ...input },
          aggregates.image.initial,
        );
        return [
          { streamId: streams.image(imageId), expectedVersion: 'no_stream', events },
          await claimName(loader, 'image', nameOf(input), imageId),
        ];
      });
    },
    updateImage(imageId, changes, ctx) {
      return execute(store, ctx, imageId, streams.image(imageId), async () => {
        const { state, version } = await image(imageId);
        const events = aggregates.image.decide({ type: 'UpdateImage', changes }, state);
        return [
          { streamId: streams.image(imageId), expectedVersion: version, events },
          ...(events.length > 0
            ? await renameBatches(loader, 'image', imageId, state.name, changes.name)
            : []),
        ];
      });
    },
    deleteImage(imageId, ctx) {
      return execute(store, ctx, imageId, streams.image(imageId), async () => {
        const { state, version } = await image(imageId);
        const events = aggregates.image.decide({ type: 'DeleteImage' }, state);
        return [
          { streamId: streams.image(imageId), expectedVersion: version, events },
          await releaseName(loader, 'image', state.name, imageId),
        ];
      });
    },
    createSpec(input, ctx) {
      const specId = newId();
      return execute(store, ctx, specId, streams.spec(specId), async () => {
        const events = aggregates.spec.decide(
          { type: 'CreateSpec', specId, ...input },
          aggregates.spec.initial,
        );
        return [
          { streamId: streams.spec(specId), expectedVersion: 'no_stream', events },
          await claimName(loader, 'spec', nameOf(input), specId),
        ];
      });
    },
    updateSpec(specId, changes, ctx) {
      return execute(store, ctx, specId, streams.spec(specId), async () => {
        const { state, version } = await spec(specId);
        const events = aggregates.spec.decide({ type: 'UpdateSpec', changes }, state);
        return [
          { streamId: streams.spec(specId), expectedVersion: version, events },
          ...(events.length > 0 ? await renameBatches(loader, 'spec', specId, state.name, changes.name) : []),
        ];
      });
    },
    deleteSpec(specId, ctx) {
      return execute(store, ctx, specId, streams.spec(specId), async () => {
        const { state, version } = await spec(specId);
        const events = aggregates.spec.decide({ type: 'DeleteSpec' }, state);
        return [
          { streamId: streams.spec(specId), expectedVersion: version, events },
          await releaseName(loader, 'spec', state.name, specId),
        ];
      });
    },
  };
}

export { renameBatches };
