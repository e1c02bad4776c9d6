import { z } from 'zod';

/**
 * The schema of an update: every field optional and without its default (a default would fill in,
 * and so overwrite, every field the update leaves out), and at least one field given.
 */
export function changesSchema<Shape extends Record<string, z.ZodType>>(shape: Shape) {
  const bare = Object.fromEntries(
    Object.entries(shape).map(([key, field]) => [
      key,
      field instanceof z.ZodDefault ? field.unwrap() : field,
    ]),
  ) as { [K in keyof Shape]: Shape[K] extends z.ZodDefault<infer Inner> ? Inner : Shape[K] };
  return z
    .object(bare)
    .partial()
    .refine((c) => Object.values(c).some((v) => v !== undefined), 'nothing to change');
}

/** Only the fields whose value differs: an update that changes nothing records nothing. */
export function changedFields<T extends object>(state: T, changes: Partial<T>): Partial<T> {
  const out: Partial<T> = {};
  for (const key of Object.keys(changes) as (keyof T)[]) {
    if (changes[key] !== undefined && changes[key] !== state[key]) out[key] = changes[key];
  }
  return out;
}
