import { instanceCountsByState, listNodes, openDriftCount, projectionLagSeconds } from '@tianqi/projections';
import { tracked } from '@trpc/server';
import { z } from 'zod';
import type { Services } from '../../access/services.js';
import { positionId } from '../../live/change-feed.js';
import { scoped } from '../session-scoped.js';
import { adminProcedure, router } from '../trpc.js';

const count = z.number().int();
export const fleetView = z.object({
  nodes: z.object({ total: count, byStatus: z.record(z.string(), count) }),
  /** Cards by model across the fleet's live nodes. */
  gpus: z.array(z.object({ model: z.string(), total: count, free: count })),
  instances: z.object({
    total: count,
    byDesired: z.record(z.string(), count),
    byObserved: z.record(z.string(), count),
    /** Wanted one way, seen another (on its way, or stuck). */
    settling: count,
  }),
  openDrift: count,
  /** The last sync this server ran: when, how long, the nodes it could not look at. */
  lastSync: z
    .object({
      at: z.date(),
      ms: z.number(),
      failed: z.array(z.object({ nodeId: z.string(), name: z.string(), status: z.string() })),
    })
    .nullable(),
  /** Age of the oldest event the read models have not taken in (0: up to date). */
  projectionLagSeconds: z.number(),
});
export type FleetView = z.output<typeof fleetView>;

/** What the overview reads of a node's row. */
const nodeRow = z.object({
  dockerStatus: z.string(),
  gpuModel: z.string().nullable(),
  gpuCount: z.coerce.number(),
  gpusFree: z.coerce.number(),
});

/** The admin's first page: what the fleet holds and how it is doing, from the read models. */
async function fleetOverview(services: Services): Promise<FleetView> {
  const [nodes, states, openDrift, lag] = await Promise.all([
    listNodes(services.pool).then((rows) => z.array(nodeRow).parse(rows)),
    instanceCountsByState(services.pool),
    openDriftCount(services.pool),
    projectionLagSeconds(services.pool, services.projections.position),
  ]);
  const tally = (into: Record<string, number>, key: string, n = 1) => {
    into[key] = (into[key] ?? 0) + n;
  };
  const byStatus: Record<string, number> = {};
  const gpus = new Map<string, { model: string; total: number; free: number }>();
  for (const n of nodes) {
    tally(byStatus, n.dockerStatus);
    if (n.gpuCount <= 0) continue;
    const model = n.gpuModel ?? '';
    const g = gpus.get(model) ?? { model, total: 0, free: 0 };
    g.total += n.gpuCount;
    g.free += n.gpusFree;
    gpus.set(model, g);
  }
  const byDesired: Record<string, number> = {};
  const byObserved: Record<string, number> = {};
  let total = 0;
  let settling = 0;
  for (const s of states) {
    tally(byDesired, s.desired, s.count);
    tally(byObserved, s.observed, s.count);
    total += s.count;
    const agrees =
      (s.desired === 'running' && s.observed === 'running') ||
      (s.desired === 'stopped' && s.observed === 'exited');
    if (!agrees) settling += s.count;
  }
  const last = services.sync.last;
  return {
    nodes: { total: nodes.length, byStatus },
    gpus: [...gpus.values()].sort((a, b) => a.model.localeCompare(b.model)),
    instances: { total, byDesired, byObserved, settling },
    openDrift,
    lastSync: last && {
      at: last.startedAt,
      ms: last.ms,
      failed: last.nodes
        .filter((n) => n.status !== 'connected')
        .map((n) => ({ nodeId: n.nodeId, name: n.name, status: n.status })),
    },
    projectionLagSeconds: lag,
  };
}

/** Re-read at most this often while events stream in, and at least this often for the sync's news. */
const AT_MOST_MS = 1_000;
const AT_LEAST_MS = 10_000;

export const fleetRouter = router({
  overview: adminProcedure.output(fleetView).query(({ ctx }) => fleetOverview(ctx.services)),

  /**
   * The overview now, then again as the platform's events arrive (at most once a second). Changes are
   * only noted as they come (never queued), so a busy platform costs a watcher one re-read a second.
   */
  watch: adminProcedure.subscription(({ ctx, signal }) =>
    scoped(ctx, signal, async function* (until) {
      const note: { dirty: boolean; wake: (() => void) | null } = { dirty: false, wake: null };
      const noting = (async () => {
        for await (const _ of ctx.services.feed.changes(until)) {
          note.dirty = true;
          note.wake?.();
        }
      })();
      // It ends with `until` (the feed's changes end quietly when it aborts).
      noting.catch(() => undefined);
      try {
        while (!until.aborted) {
          note.dirty = false;
          yield tracked(positionId(ctx.services.projections.position), await fleetOverview(ctx.services));
          await new Promise<void>((resolve) => {
            const done = () => {
              clearTimeout(timer);
              until.removeEventListener('abort', done);
              note.wake = null;
              resolve();
            };
            const timer = setTimeout(done, AT_LEAST_MS);
            until.addEventListener('abort', done);
            note.wake = done;
            if (note.dirty) done();
          });
          if (!until.aborted) await new Promise((resolve) => setTimeout(resolve, AT_MOST_MS));
        }
      } finally {
        note.wake = null;
      }
    }),
  ),
});
