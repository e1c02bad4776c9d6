import { REMOTE_COMMANDS, remoteHelp, runRemote } from './commands.js';

/** What the server's commands module offers (`@tianqi/api/server-commands`), when it is installed. */
interface ServerCommands {
  SERVER_HELP: string;
  SERVER_COMMANDS: readonly string[];
  runServerCommand(argv: string[]): Promise<number>;
}

/** The commands that run a server: known here so that, without the server installed, they are explained. */
const SERVER_COMMANDS = new Set(['start', 'migrate', 'config', 'admin', 'rebuild-projections']);
const SERVER_PACKAGE = '@tianqi/api/server-commands';

/**
 * The server's commands, when the server is installed beside the CLI (as in the repository); null when
 * the CLI is installed alone. Loaded only for those commands and for help: a remote command loads none
 * of the server.
 */
async function serverCommands(): Promise<ServerCommands | null> {
  try {
    return (await import(SERVER_PACKAGE)) as ServerCommands;
  } catch (err) {
    const code = (err as { code?: string }).code;
    if (code === 'ERR_MODULE_NOT_FOUND' || code === 'ERR_PACKAGE_PATH_NOT_EXPORTED') return null;
    throw err;
  }
}

const NO_SERVER = `Running a server: \`tianqi start\`, \`migrate\`, \`config\`, \`admin create\` and
\`rebuild-projections\` come with the Tianqi server (@tianqi/api), which is not installed here.`;

async function help(): Promise<string> {
  const server = await serverCommands();
  return `tianqi: the Tianqi GPU container platform

Talking to a server (signed in with \`tianqi login\`; every command takes --json and --server URL):

${remoteHelp()}

Exit codes: 0 done; 1 the server refused or could not be reached (the message says why); 2 a usage
error; 3 not signed in (or the session has ended); \`instance shell\` exits with the shell's own code.
Environment: TIANQI_SERVER (else the saved server, else http://localhost:8888), TIANQI_TOKEN (a
session token instead of the saved one), TIANQI_USERNAME / TIANQI_PASSWORD (for login),
TIANQI_NEW_PASSWORD (user add, user reset-password, passwd), XDG_CONFIG_HOME (the session is kept in
$XDG_CONFIG_HOME/tianqi/credentials.json, default ~/.config/tianqi, readable by you only).

${server ? server.SERVER_HELP : NO_SERVER}`;
}

async function main(argv: string[]): Promise<number> {
  const [first] = argv;
  // Remote commands first: they read no server configuration and load no server module.
  if (first !== undefined && REMOTE_COMMANDS.has(first)) return runRemote(argv);
  if (first === undefined || first === 'help' || first === '--help' || first === '-h') {
    console.log(await help());
    return 0;
  }
  if (SERVER_COMMANDS.has(first)) {
    const server = await serverCommands();
    if (server) return server.runServerCommand(argv);
    console.error(`tianqi ${first}: ${NO_SERVER.replace('\n', ' ')}`);
    return 2;
  }
  console.error(`tianqi: unknown command "${first}" (see \`tianqi help\`)`);
  return 2;
}

const argv = process.argv.slice(2);
const code = await main(argv).catch((err: unknown) => {
  console.error(`tianqi: ${(err as Error).stack ?? String(err)}`);
  return 1;
});
process.exitCode = code;
// A remote command is done when it answers: sockets kept alive by HTTP or EventSource must not hold
// the process (stdout is flushed first: it is asynchronous on some pipes). A failed server command
// must not be held either by whatever its start left open.
const first = argv[0];
if ((first !== undefined && REMOTE_COMMANDS.has(first)) || code !== 0) {
  process.stdout.write('', () => process.exit(code));
}
