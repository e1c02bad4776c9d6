import { z } from 'zod';

/** Ids are made by the server (12 lowercase letters and digits), never typed by people. */
export const idSchema = z.string().regex(/^[a-z0-9]{6,40}$/, 'not a valid id');

/** A display name: trimmed, 1–64 characters, no control characters. Chinese is welcome. */
export const displayNameSchema = z
  .string()
  .trim()
  .min(1, 'a name is required')
  .max(64, 'a name is at most 64 characters')
  // biome-ignore lint/suspicious/noControlCharactersInRegex: refusing control characters is the point
  .regex(/^[^\u0000-\u001f\u007f]+$/, 'a name cannot contain control characters');

export const remarkSchema = z.string().max(500, 'a remark is at most 500 characters').default('');

/** A whole or fractional amount within bounds, e.g. GB or cores. */
export const amount = (what: string, min: number, max: number) =>
  z
    .number({ error: `${what} must be a number` })
    .finite()
    .min(min, `${what} must be at least ${min}`)
    .max(max, `${what} must be at most ${max}`);

export const wholeAmount = (what: string, min: number, max: number) =>
  amount(what, min, max).int(`${what} must be a whole number`);

/**
 * A secret sealed with AES-256-GCM by the server (`v1.<iv>.<tag>.<ciphertext>`, base64url). Events and
 * commands only ever carry this form; plaintext never reaches the event log.
 */
export const sealedSecretSchema = z
  .string()
  .regex(/^v1\.[A-Za-z0-9_-]{16}\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]{1,20000}$/, 'not a sealed secret');

const EARLIEST = Date.UTC(1970, 0, 1);
const LATEST = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/**
 * A moment asked about (a filter's bounds, a time to travel to): an ISO date or a Date, from 1970 to
 * 9999. JavaScript takes dates PostgreSQL cannot hold (year -271821): refused here, as bad input that
 * names the field, not deep in a query as an internal error.
 */
export const momentSchema = z.coerce
  .date({ error: 'a date (ISO 8601, e.g. 2026-12-01T08:00:00Z)' })
  .refine((d) => d.getTime() >= EARLIEST && d.getTime() <= LATEST, 'a date between 1970 and 9999');

/** Text of a filter or query: what PostgreSQL can compare (no NUL character). */
export const queryTextSchema = (max: number) =>
  z
    .string()
    .max(max)
    .refine((text) => !text.includes('\u0000'), 'text may not contain NUL characters');
