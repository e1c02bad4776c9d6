import { readFileSync } from 'node:fs';
import { TRPCClientError } from '@trpc/client';
import { createApiClient } from './api-client.js';
import { CliError, type CommandDef, SignedOutError, string, UsageError } from './command.js';
import { forgetCredentials, loadCredentials, saveCredentials } from './credentials.js';
import { askLine, readSecret } from './input.js';
import { emit, table, when } from './output.js';

const isUnauthorized = (err: unknown) =>
  err instanceof TRPCClientError &&
  (err.data as { tianqiCode?: string } | undefined)?.tianqiCode === 'unauthorized';

/** Sign in, sign out, who am I; the user's own password and SSH keys. */
export const sessionCommands: CommandDef[] = [
  {
    usage: 'login [--server URL] [--username NAME]',
    summary: 'sign in and keep the session (password from $TIANQI_PASSWORD, the terminal or stdin)',
    options: { username: { type: 'string', short: 'u' } },
    async run(call) {
      let username = string(call, 'username') ?? process.env.TIANQI_USERNAME;
      if (!username) {
        if (!process.stdin.isTTY) throw new UsageError('--username is required when stdin is not a terminal');
        username = await askLine('Username: ');
      }
      const password = await readSecret('Password', 'TIANQI_PASSWORD');
      const { user, token } = await createApiClient(call.server)
        .auth.login.mutate({ username, password, via: 'cli' })
        .catch((err: unknown) => {
          // Refused credentials are a failure of this command, not a missing session (exit 1, not 3).
          throw isUnauthorized(err) ? new CliError((err as Error).message) : err;
        });
      if (!token) throw new CliError('the server answered without a session token');
      const file = await saveCredentials({
        server: call.server,
        token,
        username: user.username,
        expiresAt: String(user.expiresAt),
      });
      // The token itself stays in the credentials file: output is often logged.
      emit(
        call,
        { user, server: call.server, credentials: file },
        () => `signed in to ${call.server} as ${user.username} (${user.role}) until ${when(user.expiresAt)}`,
      );
      return 0;
    },
  },
  {
    usage: 'logout',
    summary: 'end the session on the server and forget it here',
    async run(call) {
      const saved = await loadCredentials();
      if (call.token) {
        await call
          .api()
          .auth.logout.mutate()
          .catch((err: unknown) => {
            if (!isUnauthorized(err)) throw err; // already ended on the server: forget it all the same
          });
      }
      if (saved && saved.token === call.token) await forgetCredentials();
      emit(call, { ok: true }, () => (call.token ? 'signed out' : 'not signed in'));
      return 0;
    },
  },
  {
    usage: 'whoami',
    summary: 'the signed-in user and server',
    async run(call) {
      const me = await call.api().auth.me.query();
      if (!me) throw new SignedOutError('the session has ended: run `tianqi login`');
      emit(
        call,
        me,
        () => `${me.username} (${me.role}) at ${call.server}, session until ${when(me.expiresAt)}`,
      );
      return 0;
    },
  },
  {
    usage: 'passwd',
    summary:
      'change your password ($TIANQI_PASSWORD and $TIANQI_NEW_PASSWORD, the terminal, or two lines on stdin)',
    async run(call) {
      const currentPassword = await readSecret('Current password', 'TIANQI_PASSWORD', 0);
      const newPassword = await readSecret('New password', 'TIANQI_NEW_PASSWORD', 1);
      const result = await call.api().auth.changePassword.mutate({ currentPassword, newPassword });
      emit(call, result, (r) => `password changed; ${r.otherSessionsEnded} other session(s) ended`);
      return 0;
    },
  },
  {
    usage: 'ssh-key list',
    summary: 'your SSH public keys (for the jumpbox)',
    async run(call) {
      const keys = await call.api().auth.sshKeys.query();
      emit(call, keys, (ks) =>
        table(
          ['FINGERPRINT', 'ALGORITHM', 'COMMENT'],
          ks.map((k) => [k.fingerprint, k.algorithm, k.comment]),
        ),
      );
      return 0;
    },
  },
  {
    usage: 'ssh-key add FILE',
    summary: 'add an SSH public key (e.g. ~/.ssh/id_ed25519.pub; - reads stdin)',
    args: [1, 1],
    async run(call) {
      const file = call.args[0]!;
      let publicKey: string;
      try {
        publicKey = readFileSync(file === '-' ? 0 : file, 'utf8').trim();
      } catch (err) {
        throw new UsageError(`cannot read ${file}: ${(err as Error).message}`);
      }
      const result = await call.api().auth.addSshKey.mutate({ publicKey });
      emit(call, result, () => 'key added');
      return 0;
    },
  },
  {
    usage: 'ssh-key remove FINGERPRINT',
    summary: 'remove one of your SSH keys',
    args: [1, 1],
    async run(call) {
      const result = await call.api().auth.removeSshKey.mutate({ fingerprint: call.args[0]! });
      emit(call, result, () => 'key removed');
      return 0;
    },
  },
];
