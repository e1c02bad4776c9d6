import { changesSchema, idSchema, nodeShape, TianqiError } from '@tianqi/domain';
import { getNode, listNodes } from '@tianqi/projections';
import type pg from 'pg';
import { z } from 'zod';
import type { Services } from '../../access/services.js';
import { availableNodesView, checkedRows, commandResultView, nodeView } from '../../access/views.js';
import { adminProcedure, applied, router, settled, userProcedure } from '../trpc.js';

/** What an admin sends for a node: the SSH password and client key in plain text (sealed on arrival). */
const nodeInputShape = {
  ...nodeShape,
  sshPassword: z.string().max(1000).nullable().default(null),
  clientKey: z
    .string()
    .trim()
    .max(20_000)
    .regex(
      /^-----BEGIN [A-Z ]*PRIVATE KEY-----[\s\S]+-----END [A-Z ]*PRIVATE KEY-----$/,
      'the client key must be a PEM private key',
    )
    .nullable()
    .default(null),
};

/** A command's result with the node's Docker connection as checked right after it. */
const checkedResultView = commandResultView.extend({
  connection: z.object({
    status: z.enum(['connected', 'failed', 'unknown']),
    /** Why it failed, or that the check is still running past the bound. */
    reason: z.string(),
    /** The engine's version, when connected. */
    dockerVersion: z.string().nullable(),
  }),
});

/** How long a registration waits for its connection check: Docker's own check is bounded at 5 s. */
const CHECK_BOUND_MS = 8_000;

async function connectionOf(services: Services, nodeId: string) {
  let timer: NodeJS.Timeout | undefined;
  const check = await Promise.race([
    // A check that failed to record (the database away) is "not known yet", not a failed register.
    services.sync.checkNow(nodeId).catch(() => null),
    new Promise<'late'>((resolve) => {
      timer = setTimeout(() => resolve('late'), CHECK_BOUND_MS);
    }),
  ]).finally(() => clearTimeout(timer));
  if (check === 'late' || check === null) {
    return {
      status: 'unknown' as const,
      reason: 'the connection check is still running; see node show',
      dockerVersion: null,
    };
  }
  await settled(services, await services.store.head());
  return check.ok
    ? { status: 'connected' as const, reason: '', dockerVersion: check.version }
    : { status: 'failed' as const, reason: check.reason, dockerVersion: null };
}

/** Compute nodes (算力节点): admins manage them; users only ask which could host a spec. */
export const nodesRouter = router({
  list: adminProcedure
    .input(z.strictObject({ includeDeleted: z.boolean().default(false) }).default({ includeDeleted: false }))
    .output(z.array(nodeView))
    .query(({ ctx, input }) => checkedRows(z.array(nodeView), listNodes(ctx.services.pool, input))),

  get: adminProcedure
    .input(z.strictObject({ nodeId: idSchema }))
    .output(nodeView)
    .query(async ({ ctx, input }) => {
      return checkedRows(nodeView, findNode(ctx.services.pool, input.nodeId));
    }),

  /** Registers a node and answers with its connection check (within a bound), as `check` does. */
  register: adminProcedure
    .input(z.strictObject(nodeInputShape))
    .output(checkedResultView)
    .mutation(async ({ ctx, input }) => {
      const result = await applied(ctx.services, ctx.services.commands.nodes.register(input, ctx.command));
      return { ...result, connection: await connectionOf(ctx.services, result.id) };
    }),

  /** Changes a node; its connection is checked again and the result answered. */
  update: adminProcedure
    .input(z.strictObject({ nodeId: idSchema, changes: changesSchema(nodeInputShape) }))
    .output(checkedResultView)
    .mutation(async ({ ctx, input }) => {
      const result = await applied(
        ctx.services,
        ctx.services.commands.nodes.update(input.nodeId, input.changes, ctx.command),
      );
      return { ...result, connection: await connectionOf(ctx.services, input.nodeId) };
    }),

  delete: adminProcedure
    .input(z.strictObject({ nodeId: idSchema }))
    .output(commandResultView)
    .mutation(({ ctx, input }) =>
      applied(ctx.services, ctx.services.commands.nodes.delete(input.nodeId, ctx.command)),
    ),

  /** Tests the node's Docker connection now and records what it found. */
  check: adminProcedure
    .input(z.strictObject({ nodeId: idSchema }))
    .output(nodeView)
    .mutation(async ({ ctx, input }) => {
      if (!(await ctx.services.commands.nodes.get(input.nodeId)))
        throw new TianqiError('not_found', `no node ${input.nodeId}`);
      await ctx.services.sync.checkNow(input.nodeId);
      await settled(ctx.services, await ctx.services.store.head());
      return checkedRows(nodeView, findNode(ctx.services.pool, input.nodeId));
    }),

  /** The seed's "available nodes for a spec": for users the names and free cards only. */
  available: userProcedure
    .input(z.strictObject({ specId: idSchema }))
    .output(availableNodesView)
    .query(async ({ ctx, input }) => {
      const { candidates, rejected } = await ctx.services.commands.instances.candidates(
        input.specId,
        ctx.command,
      );
      return ctx.user.role === 'admin' ? { candidates, rejected } : { candidates };
    }),
});

async function findNode(pool: pg.Pool, nodeId: string) {
  const node = await getNode(pool, nodeId);
  if (!node) throw new TianqiError('not_found', `no node ${nodeId}`);
  return node;
}
