import { eventTypesByStream, idSchema, momentSchema } from '@tianqi/domain';
import {
  auditLog,
  listDrift,
  openDriftInstanceIds,
  usageByDay,
  usageByInstance,
  usageByUser,
} from '@tianqi/projections';
import { z } from 'zod';
import { auditFilterInput } from '../../access/audit-filter.js';
import {
  auditEntryView,
  checkedRows,
  dayUsageView,
  driftView,
  instanceUsageView,
  pageOf,
  recordingEntryView,
  userUsageView,
} from '../../access/views.js';
import { listAllRecordings } from '../../terminal/recording.js';
import { adminProcedure, router, userProcedure } from '../trpc.js';

/** The global audit log, for admins (an instance's own history is instances.history). */
export const auditRouter = router({
  list: adminProcedure
    .input(auditFilterInput.default({ limit: 50, offset: 0, order: 'asc' }))
    .output(pageOf(auditEntryView))
    .query(({ ctx, input }) => auditLog(ctx.services.pool, input)),

  /** Every event type, by the kind of stream that records it: what the type filter offers. */
  eventTypes: adminProcedure
    .output(z.array(z.strictObject({ stream: z.string(), types: z.array(z.string()) })))
    .query(() =>
      Object.entries(eventTypesByStream).map(([stream, types]) => ({ stream, types: [...types] })),
    ),

  /**
   * Everyone's recorded terminal and SSH sessions, newest first; `after` (the last page's last
   * recording) pages on. Each plays back with instances.recording.
   */
  recordings: adminProcedure
    .input(
      z
        .strictObject({
          userId: idSchema.optional(),
          instanceId: idSchema.optional(),
          after: z.string().min(1).max(64).optional(),
          limit: z.number().int().min(1).max(500).default(100),
        })
        .default({ limit: 100 }),
    )
    .output(z.array(recordingEntryView))
    .query(({ ctx, input }) => listAllRecordings(ctx.services.pool, input)),
});

const DRIFT_TYPES = ['DriftDetected', 'DriftResolved', 'OrphanContainerFound', 'OrphanContainerGone'];

/** Where Docker and the platform disagree: now, in the past, and "converge now". */
export const driftRouter = router({
  list: adminProcedure
    .input(
      z.strictObject({ includeResolved: z.boolean().default(false) }).default({ includeResolved: false }),
    )
    .output(z.array(driftView))
    .query(({ ctx, input }) => checkedRows(z.array(driftView), listDrift(ctx.services.pool, input))),

  history: adminProcedure
    .input(
      z
        .strictObject({
          from: momentSchema.optional(),
          to: momentSchema.optional(),
          limit: z.number().int().min(1).max(500).default(100),
          offset: z.number().int().min(0).max(1_000_000).default(0),
        })
        .default({ limit: 100, offset: 0 }),
    )
    .output(pageOf(auditEntryView))
    .query(({ ctx, input }) => auditLog(ctx.services.pool, { ...input, types: DRIFT_TYPES })),

  /**
   * Act now: on these instances, on every unfinished instance of a node, or (neither given) on every
   * instance with open drift; under the `report` policy this is how drift gets healed.
   */
  converge: adminProcedure
    .input(
      z
        .strictObject({
          instanceIds: z.array(idSchema).min(1).max(1000).optional(),
          nodeId: idSchema.optional(),
        })
        .refine((i) => !(i.instanceIds && i.nodeId), 'name instances or a node, not both')
        .default({}),
    )
    .output(z.object({ queued: z.number().int() }))
    .mutation(async ({ ctx, input }) => {
      const { reconciler, pool } = ctx.services;
      if (input.nodeId) return { queued: await reconciler.convergeNode(input.nodeId) };
      const ids = input.instanceIds ?? (await openDriftInstanceIds(pool));
      reconciler.converge(ids);
      ctx.log.info({ instances: ids.length, by: ctx.user.username }, 'converge now');
      return { queued: ids.length };
    }),

  /** The drift policy in force (`sync.drift-policy`): heal drift at once, or report it and wait. */
  policy: adminProcedure
    .output(z.object({ policy: z.enum(['report', 'heal']) }))
    .query(({ ctx }) => ({ policy: ctx.services.reconciler.driftPolicy })),

  /** Looks at every node now instead of at the next 30-second tick. */
  syncNow: adminProcedure
    .output(z.object({ ms: z.number(), nodes: z.number().int(), sampled: z.number().int() }))
    .mutation(async ({ ctx }) => {
      const report = await ctx.services.sync.runEverywhere();
      await ctx.services.projections.waitFor(await ctx.services.store.head());
      return { ms: report.ms, nodes: report.nodes.length, sampled: report.sampled };
    }),
});

const period = z
  .strictObject({ from: momentSchema, to: momentSchema })
  .refine((p) => p.from < p.to, 'the period must end after it starts');

/** Running time and cost over a period: a user's own, or everyone's for admins. */
export const usageRouter = router({
  mine: userProcedure
    .input(period)
    .output(z.object({ instances: z.array(instanceUsageView), seconds: z.number(), cost: z.number() }))
    .query(async ({ ctx, input }) => {
      const instances = await usageByInstance(ctx.services.pool, { ...input, ownerId: ctx.user.userId });
      const seconds = instances.reduce((s, i) => s + i.seconds, 0);
      const cost =
        Math.round(instances.reduce((s, i) => s + (i.seconds * i.pricePerHour) / 3600, 0) * 100) / 100;
      return { instances, seconds, cost };
    }),

  byUser: adminProcedure
    .input(period)
    .output(z.array(userUsageView))
    .query(({ ctx, input }) => usageByUser(ctx.services.pool, input)),

  byInstance: adminProcedure
    .input(z.strictObject({ from: momentSchema, to: momentSchema, ownerId: idSchema.optional() }))
    .output(z.array(instanceUsageView))
    .query(({ ctx, input }) => usageByInstance(ctx.services.pool, input)),

  /** Per calendar day of the period in `timeZone` (IANA, default UTC), every day listed. */
  byDay: adminProcedure
    .input(
      z
        .strictObject({
          from: momentSchema,
          to: momentSchema,
          ownerId: idSchema.optional(),
          timeZone: z
            .string()
            .max(64)
            .refine(validTimeZone, 'not a time zone (an IANA name such as Asia/Shanghai)')
            .default('UTC'),
        })
        .refine((p) => p.from < p.to, 'the period must end after it starts')
        .refine((p) => p.to.getTime() - p.from.getTime() <= 400 * 86_400_000, 'at most 400 days at once'),
    )
    .output(z.array(dayUsageView))
    .query(({ ctx, input }) => usageByDay(ctx.services.pool, input)),
});

/**
 * An IANA zone name. A bare offset ("+08:00") is refused though Intl takes it: PostgreSQL reads such a
 * string the POSIX way, east and west swapped, and would count every day eight hours off the other way.
 */
function validTimeZone(zone: string): boolean {
  if (!/^[A-Za-z][A-Za-z0-9_+-]*(\/[A-Za-z0-9_+-]+)*$/.test(zone)) return false;
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}
