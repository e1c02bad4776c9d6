import { passwordSchema, TianqiError } from '@tianqi/domain';
import { z } from 'zod';
import { SESSION_COOKIE } from '../../access/request-auth.js';
import type { Services } from '../../access/services.js';
import { commandResultView, meView, setupStatusView, sshKeyView } from '../../access/views.js';
import type { CommandContext } from '../../commands/index.js';
import {
  type ApiContext,
  applied,
  publicProcedure,
  refuseCrossSite,
  router,
  type SignedIn,
  settled,
  userProcedure,
} from '../trpc.js';

/** The session cookie: HttpOnly (no script reads it), SameSite=Strict (no cross-site sends). */
function setCookie(ctx: ApiContext, token: string, expiresAt: Date | null): void {
  const secure = ctx.services.config.auth['secure-cookie'] ? '; Secure' : '';
  const expiry = expiresAt ? `; Expires=${expiresAt.toUTCString()}` : '; Max-Age=0';
  ctx.reply?.header(
    'set-cookie',
    `${SESSION_COOKIE}=${token}; Path=/; HttpOnly; SameSite=Strict${secure}${expiry}`,
  );
}

/** The first run, sign in and out, who am I, my password and SSH keys. */
export const authRouter = router({
  /** What the web app asks before its sign-in page: with no admin yet, it shows the setup page. */
  setupStatus: publicProcedure
    .output(setupStatusView)
    .query(async ({ ctx }) => ({ needsSetup: await ctx.services.firstRun.needsSetup() })),

  /**
   * The first admin, made with the setup code the server printed at start, and signed in as a browser
   * login is (the session cookie). Only while there is no admin.
   */
  setup: publicProcedure
    .input(
      z.strictObject({
        code: z.string().min(1).max(64),
        username: z.string().max(64),
        password: passwordSchema,
      }),
    )
    .output(z.object({ user: meView }))
    .mutation(async ({ ctx, input }) => {
      // As a browser sign-in: another site's page must not make an admin and sign the browser in.
      refuseCrossSite(ctx, 'mutation');
      const result = await ctx.services.firstRun.setUp({
        ...input,
        ip: ctx.ip,
        userAgent: ctx.userAgent,
        correlationId: ctx.requestId,
      });
      setCookie(ctx, result.token, result.expiresAt);
      return { user: { ...result.user, expiresAt: result.expiresAt } };
    }),

  login: publicProcedure
    .input(
      z.strictObject({
        username: z.string().min(1).max(64),
        password: z.string().min(1).max(200),
        /** `web` sets the session cookie; `cli` gets the token to keep. */
        via: z.enum(['web', 'cli']).default('web'),
      }),
    )
    .output(z.object({ user: meView, token: z.string().nullable() }))
    .mutation(async ({ ctx, input }) => {
      // Login CSRF: another site must not sign a browser in (to an account of its choosing). A CLI
      // login sets no cookie, and its answer cannot be read by another site's page.
      if (input.via === 'web' || ctx.origin === 'foreign') refuseCrossSite(ctx, 'mutation');
      const result = await ctx.services.auth.login({ ...input, ip: ctx.ip, userAgent: ctx.userAgent });
      const user = { ...result.user, expiresAt: result.expiresAt };
      if (input.via === 'web') {
        setCookie(ctx, result.token, result.expiresAt);
        return { user, token: null };
      }
      return { user, token: result.token };
    }),

  logout: userProcedure.output(z.object({ ok: z.literal(true) })).mutation(async ({ ctx }) => {
    await ctx.services.sessions.revoke(ctx.user.sessionId);
    // In the audit log, and how the other API servers hear of it: they forget the session at once
    // instead of trusting it for the rest of their 5 s cache.
    await ctx.services.commands.users
      .act(
        ctx.user.userId,
        { type: 'RecordLogout', sessionId: ctx.user.sessionId, via: ctx.viaCookie ? 'web' : 'cli' },
        ctx.command,
      )
      // Read-your-writes, as other mutations: the audit log read next shows the sign-out.
      .then((r) => settled(ctx.services, r.position))
      .catch((err: unknown) => ctx.services.logger.warn({ err }, 'could not record a sign-out'));
    if (ctx.viaCookie) setCookie(ctx, '', null);
    return { ok: true as const };
  }),

  /** The signed-in user, or null: what the web app asks first. */
  me: publicProcedure.output(meView.nullable()).query(({ ctx }) =>
    ctx.session
      ? {
          userId: ctx.session.userId,
          username: ctx.session.username,
          role: ctx.session.role,
          expiresAt: ctx.session.expiresAt,
        }
      : null,
  ),

  changePassword: userProcedure
    .input(z.strictObject({ currentPassword: z.string().min(1).max(200), newPassword: passwordSchema }))
    .output(commandResultView.extend({ otherSessionsEnded: z.number().int() }))
    .mutation(async ({ ctx, input }) => {
      // The current password again: a session left open on someone's desk cannot take the account.
      await ctx.services.auth.verifyPassword({
        username: ctx.user.username,
        password: input.currentPassword,
        via: 'web',
        ip: ctx.ip,
      });
      const result = await ctx.services.commands.users.changePassword(
        ctx.user.userId,
        input.newPassword,
        ctx.command,
      );
      const otherSessionsEnded = await ctx.services.sessions.revokeUser(ctx.user.userId, ctx.user.sessionId);
      await settled(ctx.services, result.position);
      return { id: result.id, version: result.version, otherSessionsEnded };
    }),

  sshKeys: userProcedure.output(z.array(sshKeyView)).query(async ({ ctx }) => {
    const user = await ctx.services.commands.users.get(ctx.user.userId);
    if (!user) throw new TianqiError('not_found', 'no such user');
    return user.sshKeys;
  }),

  addSshKey: userProcedure
    .input(z.strictObject({ publicKey: z.string().min(1).max(16_384) }))
    .output(commandResultView)
    .mutation(({ ctx, input }) => onOwnAccount(ctx, { type: 'AddSshKey', publicKey: input.publicKey })),

  removeSshKey: userProcedure
    .input(z.strictObject({ fingerprint: z.string().min(1).max(100) }))
    .output(commandResultView)
    .mutation(({ ctx, input }) =>
      onOwnAccount(ctx, { type: 'RemoveSshKey', fingerprint: input.fingerprint }),
    ),
});

/** A command on the signed-in user's own account, answered once the read models have it. */
function onOwnAccount(
  ctx: { services: Services; user: SignedIn; command: CommandContext },
  command: Parameters<Services['commands']['users']['act']>[1],
) {
  return applied(ctx.services, ctx.services.commands.users.act(ctx.user.userId, command, ctx.command));
}
