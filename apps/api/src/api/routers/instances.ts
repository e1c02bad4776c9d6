import {
  type CapacityShortfall,
  idSchema,
  instanceNameSchema,
  momentSchema,
  remarkSchema,
  TianqiError,
} from '@tianqi/domain';
import {
  instanceAt,
  instanceHistory,
  instancesByIds,
  instancesChangedSince,
  listInstances,
} from '@tianqi/projections';
import { tracked } from '@trpc/server';
import { z } from 'zod';
import { containerOf, dockerFailure, type Viewer, visibleInstance } from '../../access/instance-access.js';
import {
  instanceListFilter,
  instanceListInput,
  instanceListOutput,
  readInstanceList,
} from '../../access/instance-list.js';
import type { Services } from '../../access/services.js';
import { commandResultView, instanceView, logLineView, sampleView } from '../../access/views.js';
import { followLogs, MAX_TAIL, readLogs } from '../../docker/logs.js';
import { parsePositionId, positionId } from '../../live/change-feed.js';
import { reconcileRetries } from '../../reconciler/retries.js';
import { listRecordings, readRecording } from '../../terminal/recording.js';
import { toTrpcError } from '../errors.js';
import { scoped } from '../session-scoped.js';
import { applied, router, settled, userProcedure } from '../trpc.js';

const byId = z.strictObject({ instanceId: idSchema });
const STATS_EVERY_MS = 5_000;

const GiB = 1024 ** 3;

/**
 * What an instance command's client reads next (its list, its page): the instances read model. Its
 * answer waits for that one alone, not for the node's, the audit log's or usage's.
 */
const ANSWERED_FROM = ['instances'];

const request = (type: 'StartInstance' | 'StopInstance' | 'RestartInstance' | 'DeleteInstance') =>
  userProcedure
    .input(byId)
    .output(commandResultView)
    .mutation(({ ctx, input }) => {
      // Under the `stop` data-disk policy a user's start of an instance over its data disk is refused
      // (it would be stopped again); an admin's goes through.
      const refuseOverDataDisk =
        ctx.services.config.sync['disk-policy'] === 'stop' && ctx.user.role !== 'admin';
      return applied(
        ctx.services,
        ctx.services.commands.instances.request(input.instanceId, type, ctx.command, { refuseOverDataDisk }),
        ANSWERED_FROM,
      );
    });

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
    .input(instanceListInput)
    .output(instanceListOutput)
    .query(({ ctx, input }) => readInstanceList(ctx.services, instanceListFilter(ctx.user, input))),

  get: userProcedure
    .input(byId)
    .output(instanceView)
    .query(async ({ ctx, input }) => {
      const row = await visibleInstance(ctx.services, ctx.user, input.instanceId);
      if (!row.reconcileError) return row;
      // The latest retry, not only the first one the history recorded.
      const retry = await reconcileRetries.of(ctx.services.pool, row.instanceId);
      return retry
        ? {
            ...row,
            reconcileError: { ...row.reconcileError, ...retry, retryAt: retry.retryAt.toISOString() },
          }
        : row;
    }),

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
      const result = await ctx.services.commands.instances
        .create(input, ctx.command)
        .catch((err: unknown) => {
          // Why each node was passed over names nodes and their free resources: for admins only.
          if (err instanceof TianqiError && err.code === 'no_capacity' && ctx.user.role !== 'admin') {
            // Whether waiting helps, and nothing about the nodes themselves.
            const shortfall = err.details?.shortfall as CapacityShortfall | undefined;
            throw new TianqiError(
              'no_capacity',
              input.nodeId
                ? 'the chosen node cannot host this spec now; choose another or let the platform choose'
                : shortfall === 'unsupported'
                  ? 'no node offers this spec (its GPUs, memory or disks, or GPU slicing): it cannot be created until an admin adds such a node; choose another spec'
                  : 'every node that offers this spec is full or unreachable now; try again later or choose another spec',
              shortfall && !input.nodeId ? { shortfall } : undefined,
            );
          }
          throw err;
        });
      await settled(ctx.services, result.position, { only: ANSWERED_FROM });
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
          /** In English, for the CLI; the web app says it in the reader's language from type and data. */
          summary: z.string(),
          data: z.record(z.string(), z.unknown()),
        }),
      ),
    )
    .query(async ({ ctx, input }) => {
      await visibleInstance(ctx.services, ctx.user, input.instanceId);
      // The audit log as far as the instance's row just read: no version it shows lacks its event here.
      await settled(ctx.services, ctx.services.projections.firstStagePosition, { timeoutMs: 1_000 });
      return instanceHistory(ctx.services.pool, input.instanceId);
    }),

  /** Its recorded terminal sessions (web, CLI and SSH), newest first. */
  recordings: userProcedure
    .input(byId)
    .output(
      z.array(
        z.object({
          recordingId: z.string(),
          userId: z.string(),
          username: z.string().nullable(),
          via: z.string(),
          startedAt: z.date(),
          endedAt: z.date(),
          bytes: z.number().int(),
          truncated: z.boolean(),
        }),
      ),
    )
    .query(async ({ ctx, input }) => {
      await visibleInstance(ctx.services, ctx.user, input.instanceId);
      return listRecordings(ctx.services.pool, input.instanceId);
    }),

  /** One recording, as an asciicast v2 file (the web app plays it back). */
  recording: userProcedure
    .input(byId.extend({ recordingId: z.string().min(1).max(64) }))
    .output(z.object({ recordingId: z.string(), truncated: z.boolean(), cast: z.string() }))
    .query(async ({ ctx, input }) => {
      await visibleInstance(ctx.services, ctx.user, input.instanceId);
      const found = await readRecording(ctx.services.pool, input.instanceId, input.recordingId);
      if (!found) throw new TianqiError('not_found', `no recording ${input.recordingId}`);
      return { recordingId: input.recordingId, ...found };
    }),

  /** Its state at a past moment, folded from its own events up to then. */
  at: userProcedure
    .input(byId.extend({ time: momentSchema }))
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
      return scoped(ctx, signal, async function* (until) {
        let last = input.lastEventId ?? '';
        try {
          for await (const line of followLogs(docker, containerId, {
            tail: input.tail,
            since: input.lastEventId,
            signal: until,
          })) {
            last = line.time ?? last;
            yield tracked(last, logLineView.parse(line));
          }
        } catch (err) {
          if (until.aborted) return; // ended by the session or the server, not a Docker failure
          // Thrown inside the stream, past the middleware: mapped here to the platform's vocabulary.
          throw toTrpcError(dockerFailure(err, row));
        }
      });
    }),

  /** The last hour of samples (one per sync, more while someone watches live). */
  stats: userProcedure
    .input(byId)
    .output(
      z.object({
        latest: sampleView.nullable(),
        series: z.array(sampleView),
        /** The spec's disks in bytes (data: null when the spec gives it no size). */
        limits: z.object({ dataDiskBytes: z.number().nullable(), systemDiskBytes: z.number() }),
      }),
    )
    .query(async ({ ctx, input }) => {
      const row = await visibleInstance(ctx.services, ctx.user, input.instanceId);
      const metrics = ctx.services.sync.metrics;
      const spec = row.spec as { dataDiskGb?: number; systemDiskGb?: number };
      return {
        latest: metrics.latest(input.instanceId),
        series: metrics.series(input.instanceId),
        limits: {
          dataDiskBytes: spec.dataDiskGb ? spec.dataDiskGb * GiB : null,
          systemDiskBytes: (spec.systemDiskGb ?? 0) * GiB,
        },
      };
    }),

  /** A fresh sample every 5 seconds while the instance runs. */
  liveStats: userProcedure
    .input(byId.extend({ lastEventId: z.string().max(64).nullish() }))
    .subscription(async ({ ctx, input, signal }) => {
      await visibleInstance(ctx.services, ctx.user, input.instanceId);
      return scoped(ctx, signal, async function* (until) {
        while (!until.aborted) {
          const sample = await ctx.services.sync.sampleNow(input.instanceId).catch(() => null);
          if (sample && !until.aborted) yield tracked(String(sample.at), sampleView.parse(sample));
          await sleep(STATS_EVERY_MS, until);
        }
      });
    }),

  /**
   * State changes as they happen: one instance, or all the viewer's. It starts with the rows as they
   * are (on a reconnect, those changed since the last event the client saw), then each change.
   */
  watch: userProcedure
    .input(z.strictObject({ instanceId: idSchema.optional(), lastEventId: z.string().max(64).nullish() }))
    .subscription(async ({ ctx, input, signal }) => {
      if (input.instanceId) await visibleInstance(ctx.services, ctx.user, input.instanceId);
      return scoped(ctx, signal, (until) => watchRows(ctx.services, ctx.user, input, until));
    }),
});

async function* watchRows(
  services: Services,
  user: Viewer,
  input: { instanceId?: string; lastEventId?: string | null },
  abort: AbortSignal,
) {
  const owner = user.role === 'admin' ? null : user.userId;
  // Listen first, then read: nothing committed in between is missed.
  const changes = services.feed.changes(abort);
  const since = parsePositionId(input.lastEventId);
  const head = positionId(services.projections.position);
  const resumed =
    since && !input.instanceId ? await instancesChangedSince(services.pool, since, { ownerId: owner }) : null;
  const initial = input.instanceId
    ? await instancesByIds(services.pool, [input.instanceId], { ownerId: owner })
    : resumed !== null
      ? await instancesByIds(services.pool, resumed, { ownerId: owner })
      : (await listInstances(services.pool, { ownerId: owner ?? undefined, limit: 500 })).items;
  for (const row of initial) yield tracked(head, instanceView.parse(row));
  for await (const change of changes) {
    const ids = input.instanceId
      ? [input.instanceId].filter((id) => change.instanceIds.has(id))
      : [...change.instanceIds];
    if (ids.length === 0) continue;
    for (const row of await instancesByIds(services.pool, ids, { ownerId: owner })) {
      yield tracked(positionId(change.position), instanceView.parse(row));
    }
  }
}
