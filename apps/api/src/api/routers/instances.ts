import { idSchema, instanceNameSchema, observedStateSchema, remarkSchema } from '@tianqi/domain';
import {
  getInstance,
  type InstanceRow,
  instanceAt,
  instanceHistory,
  listInstances,
} from '@tianqi/projections';
import { tracked } from '@trpc/server';
import type pg from 'pg';
import { z } from 'zod';
import { followLogs, MAX_TAIL, readLogs } from '../../docker/logs.js';
import { parsePositionId, positionId } from '../../live/change-feed.js';
import { containerOf, dockerFailure, type Viewer, visibleInstance } from '../instance-access.js';
import type { Services } from '../services.js';
import { applied, router, settled, userProcedure } from '../trpc.js';
import { commandResultView, instanceView, logLineView, pageOf, sampleView } from '../views.js';

const byId = z.strictObject({ instanceId: idSchema });
const STATS_EVERY_MS = 5_000;

const request = (type: 'StartInstance' | 'StopInstance' | 'RestartInstance' | 'DeleteInstance') =>
  userProcedure
    .input(byId)
    .output(commandResultView)
    .mutation(({ ctx, input }) =>
      applied(ctx.services, ctx.services.commands.instances.request(input.instanceId, type, ctx.command)),
    );

const sleep = (ms: number, signal?: AbortSignal) =>
  new Promise<void>((resolve) => {
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
  });

/** Instances (容器实例): users work with their own, admins with all. */
export const instancesRouter = router({
  list: userProcedure
    .input(
      z
        .strictObject({
          ownerId: idSchema.optional(),
          nodeId: idSchema.optional(),
          desired: z.enum(['running', 'stopped', 'deleted']).optional(),
          observed: observedStateSchema.optional(),
          name: z.string().max(63).optional(),
          includeDeleted: z.boolean().default(false),
          limit: z.number().int().min(1).max(500).default(50),
          offset: z.number().int().min(0).max(1_000_000).default(0),
        })
        .default({ includeDeleted: false, limit: 50, offset: 0 }),
    )
    .output(pageOf(instanceView))
    .query(({ ctx, input }) =>
      // A user's list is always their own, whatever owner they name.
      listInstances(ctx.services.pool, {
        ...input,
        ownerId: ctx.user.role === 'admin' ? input.ownerId : ctx.user.userId,
      }),
    ),

  get: userProcedure
    .input(byId)
    .output(instanceView)
    .query(({ ctx, input }) => visibleInstance(ctx.services, ctx.user, input.instanceId)),

  create: userProcedure
    .input(
      z.strictObject({
        name: instanceNameSchema,
        imageId: idSchema,
        specId: idSchema,
        nodeId: idSchema.optional(),
        remark: remarkSchema,
      }),
    )
    .output(commandResultView.extend({ nodeId: z.string(), allocation: z.record(z.string(), z.unknown()) }))
    .mutation(async ({ ctx, input }) => {
      const result = await ctx.services.commands.instances.create(input, ctx.command);
      await settled(ctx.services, result.position);
      return { ...result, allocation: result.allocation as unknown as Record<string, unknown> };
    }),

  start: request('StartInstance'),
  stop: request('StopInstance'),
  restart: request('RestartInstance'),
  delete: request('DeleteInstance'),

  /** Who did what to it and what the platform saw, in order. */
  history: userProcedure
    .input(byId)
    .output(
      z.array(
        z.object({
          position: z.coerce.number(),
          type: z.string(),
          actorUserId: z.string().nullable(),
          actorName: z.string().nullable(),
          actorIp: z.string().nullable(),
          recordedAt: z.date(),
          summary: z.string(),
        }),
      ),
    )
    .query(async ({ ctx, input }) => {
      await visibleInstance(ctx.services, ctx.user, input.instanceId);
      return instanceHistory(ctx.services.pool, input.instanceId);
    }),

  /** Its state at a past moment, folded from its own events up to then. */
  at: userProcedure
    .input(byId.extend({ time: z.coerce.date() }))
    .output(
      z.object({
        version: z.number().int(),
        asOf: z.date().nullable(),
        state: z.object({
          name: z.string(),
          desired: z.string(),
          observed: z.string(),
          nodeId: z.string(),
          containerId: z.string().nullable(),
          allocationHeld: z.boolean(),
          drifts: z.array(z.string()),
          failure: z.object({ phase: z.string(), reason: z.string() }).nullable(),
        }),
      }),
    )
    .query(async ({ ctx, input }) => {
      await visibleInstance(ctx.services, ctx.user, input.instanceId);
      return instanceAt(ctx.services.store, input.instanceId, input.time);
    }),

  /** The last lines of its container's output (the seed's "logs with a tail size"). */
  logs: userProcedure
    .input(
      byId.extend({
        tail: z.number().int().min(1).max(MAX_TAIL).default(200),
        timestamps: z.boolean().default(false),
      }),
    )
    .output(z.object({ lines: z.array(logLineView) }))
    .query(async ({ ctx, input }) => {
      const row = await visibleInstance(ctx.services, ctx.user, input.instanceId);
      const { docker, containerId } = await containerOf(ctx.services, row);
      try {
        return { lines: await readLogs(docker, containerId, input) };
      } catch (err) {
        throw dockerFailure(err, row);
      }
    }),

  /** Follows the output; after a reconnect it goes on from the last line the client got. */
  followLogs: userProcedure
    .input(
      byId.extend({
        tail: z.number().int().min(0).max(MAX_TAIL).default(100),
        lastEventId: z.string().max(64).nullish(),
      }),
    )
    // Checked before the stream starts, so a refusal reaches the client as an error, not a reconnect.
    .subscription(async ({ ctx, input, signal }) => {
      const row = await visibleInstance(ctx.services, ctx.user, input.instanceId);
      const { docker, containerId } = await containerOf(ctx.services, row);
      return (async function* () {
        try {
          for await (const line of followLogs(docker, containerId, {
            tail: input.tail,
            since: input.lastEventId,
            signal,
          })) {
            yield tracked(line.time ?? '', logLineView.parse(line));
          }
        } catch (err) {
          throw dockerFailure(err, row);
        }
      })();
    }),

  /** The last hour of samples (one per sync, more while someone watches live). */
  stats: userProcedure
    .input(byId)
    .output(z.object({ latest: sampleView.nullable(), series: z.array(sampleView) }))
    .query(async ({ ctx, input }) => {
      await visibleInstance(ctx.services, ctx.user, input.instanceId);
      const metrics = ctx.services.sync.metrics;
      return { latest: metrics.latest(input.instanceId), series: metrics.series(input.instanceId) };
    }),

  /** A fresh sample every 5 seconds while the instance runs. */
  liveStats: userProcedure
    .input(byId.extend({ lastEventId: z.string().max(64).nullish() }))
    .subscription(async ({ ctx, input, signal }) => {
      await visibleInstance(ctx.services, ctx.user, input.instanceId);
      return (async function* () {
        while (!signal?.aborted) {
          const sample = await ctx.services.sync.sampleNow(input.instanceId).catch(() => null);
          if (sample) yield tracked(String(sample.at), sampleView.parse(sample));
          await sleep(STATS_EVERY_MS, signal);
        }
      })();
    }),

  /**
   * State changes as they happen: one instance, or all the viewer's. It starts with the rows as they
   * are (on a reconnect, those changed since the last event the client saw), then each change.
   */
  watch: userProcedure
    .input(z.strictObject({ instanceId: idSchema.optional(), lastEventId: z.string().max(64).nullish() }))
    .subscription(async ({ ctx, input, signal }) => {
      if (input.instanceId) await visibleInstance(ctx.services, ctx.user, input.instanceId);
      return watchRows(ctx.services, ctx.user, input, signal ?? new AbortController().signal);
    }),
});

async function* watchRows(
  services: Services,
  user: Viewer,
  input: { instanceId?: string; lastEventId?: string | null },
  abort: AbortSignal,
) {
  const mine = (row: InstanceRow | null): row is InstanceRow =>
    row !== null && (user.role === 'admin' || row.ownerId === user.userId);
  // Listen first, then read: nothing committed in between is missed.
  const changes = services.feed.changes(abort);
  const since = parsePositionId(input.lastEventId);
  const head = positionId(services.projections.position);
  const initial = input.instanceId
    ? [await getInstance(services.pool, input.instanceId)]
    : since
      ? await Promise.all(
          (await changedSince(services.pool, since)).map((id) => getInstance(services.pool, id)),
        )
      : (
          await listInstances(services.pool, {
            ownerId: user.role === 'admin' ? undefined : user.userId,
            limit: 500,
          })
        ).items;
  for (const row of initial) if (mine(row)) yield tracked(head, instanceView.parse(row));
  for await (const change of changes) {
    const ids = input.instanceId
      ? [input.instanceId].filter((id) => change.instanceIds.has(id))
      : [...change.instanceIds];
    for (const id of ids) {
      const row = await getInstance(services.pool, id);
      if (mine(row)) yield tracked(positionId(change.position), instanceView.parse(row));
    }
  }
}

/** Instances with events after a position (for a list subscription picking up where it left off). */
async function changedSince(
  pool: pg.Pool,
  since: { transactionId: bigint; position: bigint },
): Promise<string[]> {
  const { rows } = await pool.query<{ id: string }>(
    `SELECT DISTINCT substr(stream_id, 10) AS id FROM events
     WHERE stream_id LIKE 'instance-%'
       AND (transaction_id > $1::text::xid8 OR (transaction_id = $1::text::xid8 AND position > $2))
     LIMIT 1000`,
    [since.transactionId.toString(), since.position.toString()],
  );
  return rows.map((r) => r.id);
}
