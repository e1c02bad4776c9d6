import { idSchema, passwordSchema, roleSchema, TianqiError } from '@tianqi/domain';
import { listUsers } from '@tianqi/projections';
import { z } from 'zod';
import { checkedRows, commandResultView, userView } from '../../access/views.js';
import { adminProcedure, applied, router, settled } from '../trpc.js';

const userId = z.strictObject({ userId: idSchema });

/** Accounts, for admins: create, change roles, disable (which ends their sessions), reset passwords. */
export const usersRouter = router({
  list: adminProcedure
    .output(z.array(userView))
    .query(({ ctx }) => checkedRows(z.array(userView), listUsers(ctx.services.pool))),

  create: adminProcedure
    .input(
      z.strictObject({
        username: z.string().max(64),
        password: passwordSchema,
        role: roleSchema.default('user'),
      }),
    )
    .output(commandResultView)
    .mutation(({ ctx, input }) =>
      applied(ctx.services, ctx.services.commands.users.register(input, ctx.command)),
    ),

  setRole: adminProcedure
    .input(userId.extend({ role: roleSchema }))
    .output(commandResultView)
    .mutation(async ({ ctx, input }) => {
      if (input.userId === ctx.user.userId && input.role !== 'admin') {
        throw new TianqiError('conflict', 'an admin cannot take away their own admin role');
      }
      const result = await ctx.services.commands.users.act(
        input.userId,
        { type: 'ChangeRole', role: input.role },
        ctx.command,
      );
      await settled(ctx.services, result.position);
      return result;
    }),

  disable: adminProcedure
    .input(userId)
    .output(commandResultView.extend({ sessionsEnded: z.number().int() }))
    .mutation(async ({ ctx, input }) => {
      if (input.userId === ctx.user.userId)
        throw new TianqiError('conflict', 'an admin cannot disable themselves');
      const result = await ctx.services.commands.users.act(
        input.userId,
        { type: 'DisableUser' },
        ctx.command,
      );
      const sessionsEnded = await ctx.services.sessions.revokeUser(input.userId);
      await settled(ctx.services, result.position);
      return { id: result.id, version: result.version, sessionsEnded };
    }),

  enable: adminProcedure
    .input(userId)
    .output(commandResultView)
    .mutation(({ ctx, input }) =>
      applied(
        ctx.services,
        ctx.services.commands.users.act(input.userId, { type: 'EnableUser' }, ctx.command),
      ),
    ),

  resetPassword: adminProcedure
    .input(userId.extend({ password: passwordSchema }))
    .output(commandResultView.extend({ sessionsEnded: z.number().int() }))
    .mutation(async ({ ctx, input }) => {
      const result = await ctx.services.commands.users.changePassword(
        input.userId,
        input.password,
        ctx.command,
      );
      const sessionsEnded = await ctx.services.sessions.revokeUser(input.userId);
      await settled(ctx.services, result.position);
      return { id: result.id, version: result.version, sessionsEnded };
    }),
});
