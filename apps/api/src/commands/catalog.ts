import { type ImageCommand, type SpecCommand, streams } from '@tianqi/domain';
import type { PlatformStore } from '@tianqi/projections';
import { type AggregateLoader, aggregates } from './aggregates.js';
import type { CommandContext } from './context.js';
import type { CommandResult } from './execute.js';
import { namedAggregateCommands } from './named-aggregate.js';

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

/** Images (镜像库) and specs (产品规格), managed by admins. */
export function catalogCommands(store: PlatformStore, loader: AggregateLoader): CatalogCommands {
  const images = namedAggregateCommands(store, loader, {
    scope: 'image',
    stream: streams.image,
    aggregate: aggregates.image,
    create: (imageId, fields) => ({ ...fields, type: 'RegisterImage', imageId }) as ImageCommand,
    update: (changes) => ({ type: 'UpdateImage', changes }) as ImageCommand,
    remove: { type: 'DeleteImage' },
  });
  const specs = namedAggregateCommands(store, loader, {
    scope: 'spec',
    stream: streams.spec,
    aggregate: aggregates.spec,
    create: (specId, fields) => ({ ...fields, type: 'CreateSpec', specId }) as SpecCommand,
    update: (changes) => ({ type: 'UpdateSpec', changes }) as SpecCommand,
    remove: { type: 'DeleteSpec' },
  });
  return {
    registerImage: (input, ctx) => images.create(input, ctx),
    updateImage: (id, changes, ctx) => images.update(id, changes, ctx),
    deleteImage: images.remove,
    createSpec: (input, ctx) => specs.create(input, ctx),
    updateSpec: (id, changes, ctx) => specs.update(id, changes, ctx),
    deleteSpec: specs.remove,
  };
}
