import { createInterface } from 'node:readline/promises';
import { CliError, UsageError } from './command.js';

let piped: Promise<string[]> | undefined;

/** The lines piped in on stdin, read once (a command may take several secrets from them). */
function pipedLines(): Promise<string[]> {
  piped ??= (async () => {
    let text = '';
    process.stdin.setEncoding('utf8');
    for await (const chunk of process.stdin) text += chunk as string;
    return text.split(/\r?\n/);
  })();
  return piped;
}

/** A line typed at the terminal, echoed (a username). */
export async function askLine(prompt: string): Promise<string> {
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  try {
    return (await rl.question(prompt)).trim();
  } finally {
    rl.close();
  }
}

/** A line typed at the terminal without echo: the terminal in raw mode, read key by key. */
function askHidden(prompt: string): Promise<string> {
  const stdin = process.stdin;
  process.stderr.write(prompt);
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  stdin.resume();
  return new Promise((resolve, reject) => {
    let typed = '';
    const done = (err: Error | null) => {
      stdin.off('data', onData);
      stdin.setRawMode(false);
      stdin.pause();
      process.stderr.write('\n');
      if (err) reject(err);
      else resolve(typed);
    };
    const onData = (chunk: string) => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return done(null);
        if (ch === '\u0003') return done(new CliError('cancelled', 130));
        if (ch === '\u0004' && typed === '') return done(new CliError('cancelled', 130));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else if (ch >= ' ') typed += ch;
      }
    };
    stdin.on('data', onData);
  });
}

/**
 * A password: from the named environment variable, else typed without echo on a terminal, else line
 * `line` piped on stdin (for scripts: `printf '%s\n' "$pw" | tianqi login -u NAME`).
 */
export async function readSecret(what: string, envName: string, line = 0): Promise<string> {
  const fromEnv = process.env[envName];
  if (fromEnv) return fromEnv;
  const secret = process.stdin.isTTY ? await askHidden(`${what}: `) : ((await pipedLines())[line] ?? '');
  if (secret === '')
    throw new UsageError(`no ${what.toLowerCase()} given (type it, pipe it on stdin or set $${envName})`);
  return secret;
}
