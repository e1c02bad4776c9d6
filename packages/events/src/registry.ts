import type { z } from 'zod';
import { EventValidationError, UnknownEventTypeError } from './errors.js';

/** Event type name → zod schema of its data. Every event written or read is checked against it. */
export type EventSchemas = Record<string, z.ZodType>;

/** One event of a registry, as an appender hands it in. */
export type EventInput<S extends EventSchemas> = {
  [K in keyof S & string]: { type: K; data: z.input<S[K]> };
}[keyof S & string];

/** One event of a registry, as it comes back, with its data parsed. */
export type EventData<S extends EventSchemas> = {
  [K in keyof S & string]: { type: K; data: z.output<S[K]> };
}[keyof S & string];

export class EventRegistry<S extends EventSchemas> {
  constructor(readonly schemas: S) {}

  has(type: string): type is keyof S & string {
    return Object.hasOwn(this.schemas, type);
  }

  /** Parses `data` as `type`; `where` names the event in the error ("for stream x", "at position 12"). */
  parse(type: string, data: unknown, where: string): unknown {
    if (!this.has(type)) throw new UnknownEventTypeError(type, where);
    const result = this.schemas[type]!.safeParse(data);
    if (!result.success) {
      throw new EventValidationError(
        type,
        where,
        result.error.issues.map((i) => `${i.path.length ? i.path.join('.') : '(data)'}: ${i.message}`),
      );
    }
    return result.data;
  }
}

export function defineEvents<S extends EventSchemas>(schemas: S): EventRegistry<S> {
  return new EventRegistry(schemas);
}
