import { runServerCommand } from './server-commands.js';

// The server's own entry (`tianqi-server`, and what `tianqi start` in the CLI hands over to): the
// server's commands only. The remote commands are the CLI's (`apps/cli`).
const code = await runServerCommand(process.argv.slice(2));
process.exitCode = code;
if (code !== 0) process.stderr.write('', () => process.exit(code));
