import { parseArgs } from 'node:util';
import { ConfigError, configKeys, loadConfig } from '../config/load.js';
import { openDatabase } from '../database/connect.js';
import { createLogger, startPlatform } from '../platform.js';
import { adminCreate, rebuildCommand } from './admin-commands.js';

const HELP = `tianqi: the Tianqi GPU container platform

Usage:
  tianqi start [--config FILE]    start the platform (embedded PostgreSQL unless DATABASE_URL is set)
  tianqi migrate [--config FILE]  apply database migrations and exit
  tianqi config [--config FILE]   check the configuration and print it (as JSON)
  tianqi config keys              list every key with its environment variable and default
  tianqi admin create --username NAME
                                  create an admin (password from $TIANQI_ADMIN_PASSWORD or stdin)
  tianqi rebuild-projections [NAME…]
                                  rebuild read models from the event log (all when none is named)
  tianqi help                     this text

The configuration is read from --config, else $TIANQI_CONFIG, else ./tianqi.yaml when present; every
key can be overridden by an environment variable (see \`tianqi config keys\`).`;

async function main(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      config: { type: 'string', short: 'c' },
      help: { type: 'boolean', short: 'h' },
      username: { type: 'string', short: 'u' },
    },
  });
  const [command = 'help', sub, ...rest] = positionals;
  if (values.help || command === 'help') {
    console.log(HELP);
    return 0;
  }
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
        database: { ...config.database, url: config.database.url.replace(/:[^:@/]*@/, ':***@') },
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
      return adminCreate(config, values.username);
    case 'rebuild-projections':
      return rebuildCommand(
        config,
        [sub, ...rest].filter((n): n is string => n !== undefined),
      );
    case 'migrate': {
      const database = await openDatabase(config, createLogger(config));
      await database.close();
      console.error('the database is up to date');
      return 0;
    }
    case 'start': {
      const platform = await startPlatform(config);
      const where = platform.database.embedded
        ? `embedded PostgreSQL in ${config['data-dir']}/postgres`
        : 'DATABASE_URL';
      console.error(`Tianqi is running at ${platform.url} (database: ${where}). Press Ctrl-C to stop.`);
      await new Promise<void>((resolve) => {
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
      return 0;
    }
    default:
      console.error(`tianqi: unknown command "${command}"\n\n${HELP}`);
      return 2;
  }
}

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code;
  },
  (err: unknown) => {
    console.error(
      err instanceof ConfigError ? err.message : `tianqi: ${(err as Error).stack ?? String(err)}`,
    );
    process.exitCode = 1;
  },
);
