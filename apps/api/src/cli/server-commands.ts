import { parseArgs } from 'node:util';
import { maskedUrl } from '../database/connect-error.js';
import { StartError } from '../start-error.js';

/** The server's commands, as `tianqi help` lists them (the CLI shows them when the server is installed). */
export const SERVER_HELP = `Running a server (on the server's machine):
  tianqi start [--config FILE]    start the platform (embedded PostgreSQL unless DATABASE_URL is set)
  tianqi migrate [--config FILE]  apply database migrations and exit
  tianqi config [--config FILE]   check the configuration and print it (as JSON)
  tianqi config keys              list every key with its environment variable and default
  tianqi admin create --username NAME
                                  create an admin (password from $TIANQI_ADMIN_PASSWORD or stdin)
  tianqi rebuild-projections [NAME…]
                                  rebuild read models from the event log (all when none is named)

The configuration is read from --config, else $TIANQI_CONFIG, else ./tianqi.yaml when present; every
key can be overridden by an environment variable (see \`tianqi config keys\`).`;

/** The first words of the server's commands. */
export const SERVER_COMMANDS = ['start', 'migrate', 'config', 'admin', 'rebuild-projections'];

const parseLocal = (argv: string[]) =>
  parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      username: { type: 'string', short: 'u' },
    },
  });

async function serverCommand(argv: string[]): Promise<number> {
  let parsed: ReturnType<typeof parseLocal>;
  try {
    parsed = parseLocal(argv);
  } catch (err) {
    console.error(`tianqi: ${(err as Error).message} (see \`tianqi help\`)`);
    return 2;
  }
  const { positionals, values } = parsed;
  const [command = 'help', sub, ...rest] = positionals;
  if (values.help || command === 'help') {
    console.log(SERVER_HELP);
    return 0;
  }
  if (!SERVER_COMMANDS.includes(command)) {
    console.error(`tianqi: unknown command "${command}" (see \`tianqi help\`)`);
    return 2;
  }
  // The server's modules (database, Docker, HTTP) load only for the commands that need them.
  const { configKeys, loadConfig } = await import('../config/load.js');
  if (command === 'config' && sub === 'keys') {
    for (const k of configKeys())
      console.log(`${k.key.padEnd(26)} ${k.env.padEnd(34)} ${JSON.stringify(k.default)}`);
    return 0;
  }
  const { config, file } = loadConfig({ file: values.config });
  switch (command) {
    case 'config': {
      const hidden = (v: string) => (v === '' ? '' : '***');
      const shown = {
        ...config,
        database: { ...config.database, url: maskedUrl(config.database.url) },
        secrets: { key: hidden(config.secrets.key) },
        admin: { ...config.admin, password: hidden(config.admin.password) },
      };
      console.log(JSON.stringify({ file, config: shown }, null, 2));
      return 0;
    }
    case 'admin':
      if (sub !== 'create') {
        console.error('tianqi admin: the only subcommand is "create --username NAME"');
        return 2;
      }
      return (await import('./admin-commands.js')).adminCreate(config, values.username);
    case 'rebuild-projections':
      return (await import('./admin-commands.js')).rebuildCommand(
        config,
        [sub, ...rest].filter((n): n is string => n !== undefined),
      );
    case 'migrate': {
      const { openDatabase } = await import('../database/connect.js');
      const { createLogger } = await import('../platform.js');
      const database = await openDatabase(config, createLogger(config), { shareRunning: true });
      await database.close();
      console.error('the database is up to date');
      return 0;
    }
    case 'start': {
      const { boundHeapGrowth } = await import('../start/heap-growth.js');
      boundHeapGrowth();
      const { startPlatform } = await import('../platform.js');
      const platform = await startPlatform(config);
      const where = platform.database.embedded
        ? `embedded PostgreSQL in ${config['data-dir']}/postgres`
        : 'DATABASE_URL';
      console.error(`Tianqi is running at ${platform.url} (database: ${where}). Press Ctrl-C to stop.`);
      const stopped = new Promise<void>((resolve) => {
        const stop = (signal: string) => {
          platform.logger.info({ signal }, 'shutting down');
          platform.stop().then(resolve, (err: unknown) => {
            platform.logger.error({ err }, 'shutdown failed');
            resolve();
          });
        };
        process.once('SIGINT', stop);
        process.once('SIGTERM', stop);
      });
      // After the signal handlers: a stop asked while this is printed is still graceful.
      console.error(howToSignIn(platform, config.admin.username));
      await stopped;
      return 0;
    }
    default:
      console.error(`tianqi: unknown command "${command}" (see \`tianqi help\`)`);
      return 2;
  }
}

/**
 * Runs one of the server's commands and answers its exit code. A failed start is told in words (a
 * StartError's message, else the stack) and answered 1; the caller then exits at once, since whatever
 * the failed start left open (a socket mid-handshake) must not hold the process.
 */
export async function runServerCommand(argv: string[]): Promise<number> {
  try {
    return await serverCommand(argv);
  } catch (err) {
    console.error(
      err instanceof StartError ? (err as Error).message : `tianqi: ${(err as Error).stack ?? String(err)}`,
    );
    return 1;
  }
}

/** What the start prints so the first person knows how to get in. */
function howToSignIn(
  platform: { url: string; services: { firstRun: { code: string | null; file: string } } },
  configuredAdmin: string,
): string {
  const cli = `the CLI: tianqi login --server ${platform.url} --username NAME`;
  const { code, file } = platform.services.firstRun;
  if (code !== null) {
    return `No admin yet: open ${platform.url} and make the first one with the setup code ${code} (also in ${file}, readable by you alone), or run \`tianqi admin create --username NAME\` (this server may keep running); then sign in there or with ${cli}.`;
  }
  const who = configuredAdmin ? ` as ${configuredAdmin} (admin.username)` : '';
  return `Sign in at ${platform.url}${who}, or with ${cli}.`;
}
