import type { z } from 'zod';
import { TianqiError } from './errors.js';

/** Parses a command (or any input) or throws a validation error that names every bad field. */
export function parseOrThrow<T extends z.ZodType>(schema: T, input: unknown, what = 'command'): z.output<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw new TianqiError('validation', formatIssues(result.error.issues, what), {
    issues: result.error.issues.map((i) => ({ path: i.path.join('.'), message: i.message })),
  });
}

export function formatIssues(issues: readonly z.core.$ZodIssue[], what = 'command'): string {
  return issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : what}: ${i.message}`).join('; ');
}
