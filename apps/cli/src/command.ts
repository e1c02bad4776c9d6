import { z } from 'zod';
import type { ApiClient } from './api-client.js';

/** How `tianqi` ends (documented in the help text and docs/cli.md). */
export const EXIT = { ok: 0, failed: 1, usage: 2, signedOut: 3 } as const;

/** A failure the CLI explains itself: the message goes to stderr as `tianqi: <message>`. */
export class CliError extends Error {
  constructor(
    message: string,
    readonly exitCode: number = EXIT.failed,
  ) {
    super(message);
  }
}

export class UsageError extends CliError {
  constructor(message: string) {
    super(message, EXIT.usage);
  }
}

export class SignedOutError extends CliError {
  constructor(message = 'not signed in: run `tianqi login`') {
    super(message, EXIT.signedOut);
  }
}

export type OptionSpec = { type: 'string' | 'boolean'; short?: string; multiple?: boolean };
export type Options = Record<string, OptionSpec>;
type FlagValue = string | boolean | (string | boolean)[] | undefined;

/** One invocation of a remote command: its arguments, its flags and the session it runs in. */
export interface Call {
  args: string[];
  flags: Record<string, FlagValue>;
  /** `--json`: print the server's answer as one JSON document instead of a table. */
  json: boolean;
  server: string;
  /** The session token ($TIANQI_TOKEN, else the saved one), null when signed out. */
  token: string | null;
  /** A client with the session token; throws SignedOutError when there is none. */
  api(): ApiClient;
}

export interface CommandDef {
  /** e.g. `instance logs NAME|ID [--tail N] [--timestamps] [-f]`: the first words name the command. */
  usage: string;
  summary: string;
  /** More help, shown by `tianqi <command> --help`. */
  details?: string;
  options?: Options;
  /** How many positional arguments it takes: [at least, at most]. */
  args?: [number, number];
  run(call: Call): Promise<number | undefined>;
}

export const string = (call: Call, name: string): string | undefined => {
  const v = call.flags[name];
  return typeof v === 'string' ? v : undefined;
};

export const required = (call: Call, name: string): string => {
  const v = string(call, name);
  if (v === undefined || v.trim() === '') throw new UsageError(`--${name} is required`);
  return v;
};

export const bool = (call: Call, name: string): boolean => call.flags[name] === true;

const numberText = (int: boolean) =>
  z
    .string()
    .trim()
    .min(1)
    .transform(Number)
    .pipe(z.number().finite())
    .refine((n) => !int || Number.isInteger(n));

/** A numeric flag, checked here so `--tail ten` is a usage error rather than a server's refusal. */
export function number(
  call: Call,
  name: string,
  opts: { int?: boolean; min?: number } = {},
): number | undefined {
  const v = string(call, name);
  if (v === undefined) return undefined;
  const parsed = numberText(opts.int ?? false).safeParse(v);
  if (!parsed.success || (opts.min !== undefined && parsed.data < opts.min)) {
    const what = opts.int ? 'a whole number' : 'a number';
    throw new UsageError(
      `--${name} must be ${what}${opts.min !== undefined ? ` of at least ${opts.min}` : ''}`,
    );
  }
  return parsed.data;
}

/** An ISO date or date-time flag. */
export function date(call: Call, name: string): Date | undefined {
  const v = string(call, name);
  if (v === undefined) return undefined;
  const d = new Date(v);
  if (Number.isNaN(d.getTime()))
    throw new UsageError(`--${name} must be an ISO date such as 2025-01-31T08:00:00Z`);
  return d;
}
