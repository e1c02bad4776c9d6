import { createInterface } from 'node:readline';
import { TianqiError } from '@tianqi/domain';
import { allProjections, rebuildProjections } from '@tianqi/projections';
import { createCommands, systemContext } from '../commands/index.js';
import type { Config } from '../config/schema.js';
import { openDatabase } from '../database/connect.js';
import { createLogger, openStore } from '../platform.js';
import { loadSecretKey, SecretBox } from '../security/secrets.js';
import { ProgressBar } from './progress.js';

/** Reads the password from TIANQI_ADMIN_PASSWORD, or one line of stdin (not echoed on a terminal). */
async function readPassword(): Promise<string> {
  const fromEnv = process.env.TIANQI_ADMIN_PASSWORD;
  if (fromEnv) return fromEnv;
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: process.stdin.isTTY });
  if (process.stdin.isTTY) {
    process.stderr.write('Password for the new admin: ');
    // Hide what is typed.
    (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = () => {};
  }
  const line = await new Promise<string>((resolve) =>
    rl.once('line', resolve).once('close', () => resolve('')),
  );
  rl.close();
  if (process.stdin.isTTY) process.stderr.write('\n');
  return line;
}

/** `tianqi admin create --username NAME`: the first (or another) admin, straight into the event log. */
export async function adminCreate(config: Config, username: string | undefined): Promise<number> {
  if (!username) {
    console.error('tianqi admin create: --username NAME is required');
    return 2;
  }
  const password = await readPassword();
  const logger = createLogger({ ...config, log: { level: 'warn' } });
  const database = await openDatabase(config, logger, { shareRunning: true });
  const store = openStore(database, logger);
  try {
    const commands = createCommands(
      store,
      new SecretBox(await loadSecretKey(config.secrets.key, config['data-dir'])),
    );
    const { id } = await commands.users.register({ username, password, role: 'admin' }, systemContext('cli'));
    console.error(`admin ${username} created (user id ${id}); sign in with this name and password`);
    return 0;
  } catch (err) {
    if (err instanceof TianqiError) {
      console.error(`tianqi admin create: ${err.message}`);
      return 1;
    }
    throw err;
  } finally {
    await store.close();
    await database.close();
  }
}

/** `tianqi rebuild-projections [name…]`: rebuilds read models from the log while the platform runs. */
export async function rebuildCommand(config: Config, names: string[]): Promise<number> {
  const unknown = names.filter((n) => !allProjections.some((p) => p.name === n));
  if (unknown.length > 0) {
    console.error(
      `tianqi rebuild-projections: no read model ${unknown.join(', ')}; there are ${allProjections.map((p) => p.name).join(', ')}`,
    );
    return 2;
  }
  const chosen = names.length > 0 ? allProjections.filter((p) => names.includes(p.name)) : allProjections;
  const logger = createLogger({ ...config, log: { level: 'warn' } });
  const database = await openDatabase(config, logger, { shareRunning: true });
  const store = openStore(database, logger);
  try {
    const bar = new ProgressBar('rebuilding');
    const result = await rebuildProjections(store, chosen, {
      onProgress: (p) =>
        bar.update(Number(p.position), Number(p.headPosition), `${p.events.toLocaleString('en')} events`),
    });
    bar.done(
      `rebuilt ${result.projections.join(', ')} from ${result.events.toLocaleString('en')} events, ${Math.round(result.events / Math.max(result.seconds, 1e-3)).toLocaleString('en')} events/s`,
    );
    return 0;
  } finally {
    await store.close();
    await database.close();
  }
}
