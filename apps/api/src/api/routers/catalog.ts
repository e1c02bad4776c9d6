import { changesSchema, idSchema, imageShape, specShape } from '@tianqi/domain';
import { listImages, listSpecs } from '@tianqi/projections';
import { z } from 'zod';
import { checkedRows, commandResultView, imageView, specView } from '../../access/views.js';
import { adminProcedure, applied, router, userProcedure } from '../trpc.js';

const listInput = z
  .strictObject({ includeUnlisted: z.boolean().default(false) })
  .default({ includeUnlisted: false });

/** Images (镜像库): everyone signed in sees the listed ones; admins see and manage all. */
export const imagesRouter = router({
  list: userProcedure
    .input(listInput)
    .output(z.array(imageView))
    .query(({ ctx, input }) =>
      checkedRows(
        z.array(imageView),
        listImages(ctx.services.pool, { listedOnly: ctx.user.role !== 'admin' || !input.includeUnlisted }),
      ),
    ),
  create: adminProcedure
    .input(z.strictObject(imageShape))
    .output(commandResultView)
    .mutation(({ ctx, input }) =>
      applied(ctx.services, ctx.services.commands.catalog.registerImage(input, ctx.command)),
    ),
  update: adminProcedure
    .input(z.strictObject({ imageId: idSchema, changes: changesSchema(imageShape) }))
    .output(commandResultView)
    .mutation(({ ctx, input }) =>
      applied(
        ctx.services,
        ctx.services.commands.catalog.updateImage(input.imageId, input.changes, ctx.command),
      ),
    ),
  delete: adminProcedure
    .input(z.strictObject({ imageId: idSchema }))
    .output(commandResultView)
    .mutation(({ ctx, input }) =>
      applied(ctx.services, ctx.services.commands.catalog.deleteImage(input.imageId, ctx.command)),
    ),
});

/** Specs (产品规格): the same rules as images. */
export const specsRouter = router({
  list: userProcedure
    .input(listInput)
    .output(z.array(specView))
    .query(({ ctx, input }) =>
      checkedRows(
        z.array(specView),
        listSpecs(ctx.services.pool, { listedOnly: ctx.user.role !== 'admin' || !input.includeUnlisted }),
      ),
    ),
  create: adminProcedure
    .input(z.strictObject(specShape))
    .output(commandResultView)
    .mutation(({ ctx, input }) =>
      applied(ctx.services, ctx.services.commands.catalog.createSpec(input, ctx.command)),
    ),
  update: adminProcedure
    .input(z.strictObject({ specId: idSchema, changes: changesSchema(specShape) }))
    .output(commandResultView)
    .mutation(({ ctx, input }) =>
      applied(
        ctx.services,
        ctx.services.commands.catalog.updateSpec(input.specId, input.changes, ctx.command),
      ),
    ),
  delete: adminProcedure
    .input(z.strictObject({ specId: idSchema }))
    .output(commandResultView)
    .mutation(({ ctx, input }) =>
      applied(ctx.services, ctx.services.commands.catalog.deleteSpec(input.specId, ctx.command)),
    ),
});
