import type { z } from 'zod';

/** `{ type, data }` for each event of a schema map: what deciders return and evolvers take. */
export type EventsOf<S extends Record<string, z.ZodType>> = {
  [K in keyof S & string]: { type: K; data: z.output<S[K]> };
}[keyof S & string];
