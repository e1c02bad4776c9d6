import { expect } from 'vitest';
import { type ErrorCode, TianqiError } from '../src/index.js';

/**
 * given(events…).when(command).thenEvents(events) / .refused(code, message): the shape every domain test
 * reads in. The state is folded from the given events with the aggregate's own evolve.
 */
export function givenFor<S, C, E>(
  decide: (command: C, state: S) => E[],
  evolve: (state: S, event: E) => S,
  initial: S,
) {
  return (...events: E[]) => {
    const state = events.reduce(evolve, initial);
    return {
      state,
      when: (command: C) => ({
        thenEvents(expected: E[]) {
          expect(decide(command, state)).toEqual(expected);
        },
        refused(code: ErrorCode, message: RegExp) {
          let error: unknown;
          try {
            decide(command, state);
          } catch (err) {
            error = err;
          }
          expect(error, 'the command should have been refused').toBeInstanceOf(TianqiError);
          expect((error as TianqiError).code).toBe(code);
          expect((error as TianqiError).message).toMatch(message);
        },
        /** The events, for a test that looks inside them. */
        events: () => decide(command, state),
      }),
    };
  };
}
