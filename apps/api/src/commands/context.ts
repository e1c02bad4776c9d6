import { TianqiError } from '@tianqi/domain';
import type { EventMetadataInput } from '@tianqi/events';

/**
 * Who is acting: a signed-in user (with their role) or the platform itself (reconciler, sync,
 * bootstrap). The owner of anything a user creates is always `actor.userId`, never client input.
 */
export type Actor =
  | { kind: 'user'; userId: string; role: 'admin' | 'user' }
  | { kind: 'system'; name: string };

export interface CommandContext {
  actor: Actor;
  ip?: string | null;
  /** A client's id for this command: retrying with it never appends twice. */
  commandId?: string;
  correlationId?: string;
  /** Work under a lease (a node's reconciler or sync): its fence, refused once the lease is lost. */
  fence?: string;
}

export const systemContext = (name: string): CommandContext => ({ actor: { kind: 'system', name } });

export function metadataOf(ctx: CommandContext): EventMetadataInput {
  return {
    actorUserId: ctx.actor.kind === 'user' ? ctx.actor.userId : `system:${ctx.actor.name}`,
    actorIp: ctx.ip ?? null,
    commandId: ctx.commandId ?? null,
    correlationId: ctx.correlationId ?? null,
    ...(ctx.fence ? { fence: ctx.fence } : {}),
  };
}

export function requireUser(ctx: CommandContext): { userId: string; role: 'admin' | 'user' } {
  if (ctx.actor.kind !== 'user') throw new TianqiError('unauthorized', 'this needs a signed-in user');
  return ctx.actor;
}

export function isAdminOrSystem(ctx: CommandContext): boolean {
  return ctx.actor.kind === 'system' || ctx.actor.role === 'admin';
}

/**
 * The key a command id is remembered under: scoped to the actor, so one user's id can never answer
 * another user's command with the first one's result.
 */
export function commandKey(ctx: CommandContext): string | undefined {
  if (!ctx.commandId) return undefined;
  const who = ctx.actor.kind === 'user' ? ctx.actor.userId : `system:${ctx.actor.name}`;
  return `${who}/${ctx.commandId}`;
}
