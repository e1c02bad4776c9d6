import { z } from 'zod';
import { TianqiError } from '../shared/errors.js';
import type { EventsOf } from '../shared/events.js';

/**
 * Names that must be unique (usernames, node, image and spec names, an owner's instance names) are
 * claimed on a stream of their own, appended in the same transaction as the thing that takes the name:
 * two concurrent creates of the same name conflict on that stream, and one of them is refused.
 */
export const nameClaimEventSchemas = {
  NameClaimed: z.object({ scope: z.string(), name: z.string(), holderId: z.string() }),
  NameReleased: z.object({ holderId: z.string() }),
};
export type NameClaimEvent = EventsOf<typeof nameClaimEventSchemas>;

export interface NameClaimState {
  holderId: string | null;
}

export const initialNameClaimState: NameClaimState = { holderId: null };

export function evolveNameClaim(_state: NameClaimState, event: NameClaimEvent): NameClaimState {
  return event.type === 'NameClaimed' ? { holderId: event.data.holderId } : { holderId: null };
}

export function decideClaim(
  state: NameClaimState,
  claim: { scope: string; name: string; holderId: string; what: string },
): NameClaimEvent[] {
  if (state.holderId === claim.holderId) return [];
  if (state.holderId !== null) {
    throw new TianqiError('conflict', `${claim.what} "${claim.name}" is already taken`, {
      scope: claim.scope,
      name: claim.name,
    });
  }
  return [{ type: 'NameClaimed', data: { scope: claim.scope, name: claim.name, holderId: claim.holderId } }];
}

export function decideRelease(state: NameClaimState, holderId: string): NameClaimEvent[] {
  return state.holderId === holderId ? [{ type: 'NameReleased', data: { holderId } }] : [];
}

/** Names compare ignoring case and surrounding space: "GPU-A" and "gpu-a " are the same name. */
export function normalizeName(name: string): string {
  return name.trim().toLowerCase().normalize('NFKC');
}
