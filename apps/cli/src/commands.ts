import { parseArgs } from 'node:util';
import { TRPCClientError } from '@trpc/client';
import { adminCommands } from './admin.js';
import { type ApiClient, createApiClient } from './api-client.js';
import { auditCommands } from './audit.js';
import { type Call, CliError, type CommandDef, EXIT, SignedOutError, UsageError } from './command.js';
import { loadCredentials, serverUrl, sessionToken } from './credentials.js';
import { instanceStreamCommands } from './instance-streams.js';
import { instanceCommands } from './instances.js';
import { visible } from './output.js';
import { sessionCommands } from './session.js';
import { userCommands } from './users.js';

const GROUPS: [string, CommandDef[]][] = [
  ['Session', sessionCommands],
  ['Instances', [...instanceCommands, ...instanceStreamCommands]],
  ['Admin: nodes, images, specs, users', [...adminCommands, ...userCommands]],
  ['Audit, drift, usage', auditCommands],
];
const ALL = GROUPS.flatMap(([, defs]) => defs);

/** A command's name: the leading plain words of its usage (`instance logs`, `audit`, `ssh-key add`). */
const nameOf = (def: CommandDef) => {
  const words: string[] = [];
  for (const w of def.usage.split(' ')) {
    if (!/^[a-z][a-z-]*$/.test(w)) break;
    words.push(w);
  }
  return words.join(' ');
};
const BY_NAME = new Map(ALL.map((def) => [nameOf(def), def]));

/** The first words of the remote commands: what `tianqi.ts` hands over here (before any config is read). */
export const REMOTE_COMMANDS = new Set(ALL.map((def) => nameOf(def).split(' ')[0]!));

const COMMON = {
  json: { type: 'boolean' },
  server: { type: 'string' },
  help: { type: 'boolean', short: 'h' },
} as const;

function line(usage: string, summary: string): string {
  const left = `  tianqi ${usage}`;
  return left.length < 40 ? `${left.padEnd(40)}${summary}` : `${left}\n${' '.repeat(40)}${summary}`;
}

export function remoteHelp(): string {
  return GROUPS.map(
    ([title, defs]) => `${title}:\n${defs.map((d) => line(d.usage, d.summary)).join('\n')}`,
  ).join('\n\n');
}

function commandHelp(def: CommandDef): string {
  return [
    `Usage: tianqi ${def.usage} [--json] [--server URL]`,
    '',
    def.summary,
    def.details ? `\n${def.details}` : '',
  ]
    .join('\n')
    .trimEnd();
}

function find(argv: string[]): { def: CommandDef; rest: string[] } {
  const [first = '', second = ''] = argv;
  const two = BY_NAME.get(`${first} ${second}`);
  if (two) return { def: two, rest: argv.slice(2) };
  const one = BY_NAME.get(first);
  if (one) return { def: one, rest: argv.slice(1) };
  const group = ALL.filter((d) => nameOf(d).startsWith(`${first} `));
  throw new UsageError(
    `unknown command "${[first, second].join(' ').trim()}"; try:\n${group.map((d) => `  tianqi ${d.usage}`).join('\n')}`,
  );
}

/**
 * Why fetch failed: the innermost cause with a code (ECONNREFUSED, ENOTFOUND…), else the innermost
 * message under "fetch failed" (e.g. "bad port"): what a person can act on.
 */
function networkCode(err: unknown): string | null {
  let fetchFailed = false;
  let innermost: string | null = null;
  for (
    let e = err as { code?: unknown; cause?: unknown; message?: unknown } | undefined, depth = 0;
    e && depth < 6;
    depth++
  ) {
    if (typeof e.code === 'string' && /^E[A-Z]+/.test(e.code)) return e.code;
    if (e.message === 'fetch failed') fetchFailed = true;
    if (typeof e.message === 'string') innermost = e.message;
    e = e.cause as typeof e;
  }
  return fetchFailed ? innermost : null;
}

/** An error as `tianqi: <message>` and an exit code (see the help text). */
export function explain(err: unknown, server: string): { message: string; code: number } {
  if (err instanceof CliError) return { message: err.message, code: err.exitCode };
  if ((err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
    return { message: (err as Error).message, code: EXIT.usage };
  }
  if (err instanceof TRPCClientError) {
    const tianqiCode = (err.data as { tianqiCode?: string } | undefined)?.tianqiCode;
    if (tianqiCode === 'unauthorized')
      return { message: `${err.message}: run \`tianqi login\``, code: EXIT.signedOut };
    if (tianqiCode) return { message: err.message, code: EXIT.failed };
    const network = networkCode(err);
    if (network) return { message: `cannot reach ${server} (${network})`, code: EXIT.failed };
    return { message: err.message, code: EXIT.failed };
  }
  const network = networkCode(err);
  if (network) return { message: `cannot reach ${server} (${network})`, code: EXIT.failed };
  return { message: (err as Error).stack ?? String(err), code: EXIT.failed };
}

/** Runs one remote command: parses its flags, finds the session, calls the server, reports errors. */
export async function runRemote(argv: string[]): Promise<number> {
  let server = '';
  try {
    const { def, rest } = find(argv);
    const { values, positionals } = parseArgs({
      args: rest,
      options: { ...COMMON, ...def.options },
      allowPositionals: true,
      strict: true,
    });
    if (values.help) {
      console.log(commandHelp(def));
      return EXIT.ok;
    }
    const [min, max] = def.args ?? [0, 0];
    if (positionals.length < min || positionals.length > max) {
      throw new UsageError(`usage: tianqi ${def.usage}`);
    }
    const saved = await loadCredentials();
    server = serverUrl(typeof values.server === 'string' ? values.server : undefined, saved);
    const token = sessionToken(saved);
    let client: ApiClient | undefined;
    const call: Call = {
      args: positionals,
      flags: values,
      json: values.json === true,
      server,
      token,
      api() {
        if (!token) throw new SignedOutError();
        client ??= createApiClient(server, token);
        return client;
      },
    };
    return (await def.run(call)) ?? EXIT.ok;
  } catch (err) {
    const { message, code } = explain(err, server);
    console.error(`tianqi: ${visible(message)}`);
    return code;
  }
}
