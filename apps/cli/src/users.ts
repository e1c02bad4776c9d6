import { roleSchema } from '@tianqi/domain';
import { type CommandDef, UsageError } from './command.js';
import { readSecret } from './input.js';
import { emit, table, when } from './output.js';
import { userId } from './resolve.js';

const role = (text: string | undefined) => {
  const parsed = roleSchema.safeParse(text ?? 'user');
  if (!parsed.success) throw new UsageError('a role is "admin" or "user"');
  return parsed.data;
};

const NEW_PASSWORD = 'password (from $TIANQI_NEW_PASSWORD, the terminal, or the first line of stdin)';

/** Accounts, for admins. */
export const userCommands: CommandDef[] = [
  {
    usage: 'user list',
    summary: 'every account',
    async run(call) {
      const users = await call.api().users.list.query();
      emit(call, users, (us) =>
        table(
          ['USERNAME', 'ID', 'ROLE', 'DISABLED', 'SSH KEYS', 'CREATED'],
          us.map((u) => [
            u.username,
            u.userId,
            u.role,
            u.disabled ? 'yes' : 'no',
            u.sshKeys.length,
            when(u.createdAt),
          ]),
        ),
      );
      return 0;
    },
  },
  {
    usage: 'user add NAME [--role admin|user]',
    summary: `create an account; ${NEW_PASSWORD}`,
    args: [1, 1],
    options: { role: { type: 'string' } },
    async run(call) {
      const wanted = role(call.flags.role as string | undefined); // a typo is reported before a password is asked for
      const password = await readSecret(`Password for ${call.args[0]}`, 'TIANQI_NEW_PASSWORD');
      const input = { username: call.args[0]!, password, role: wanted };
      const result = await call.api().users.create.mutate(input);
      emit(call, result, (r) => `user ${input.username} added (${r.id}, ${input.role})`);
      return 0;
    },
  },
  {
    usage: 'user role NAME|ID admin|user',
    summary: 'change an account’s role',
    args: [2, 2],
    async run(call) {
      const api = call.api();
      const result = await api.users.setRole.mutate({
        userId: await userId(api, call.args[0]!),
        role: role(call.args[1]),
      });
      emit(call, result, () => `${call.args[0]} is now ${call.args[1]}`);
      return 0;
    },
  },
  {
    usage: 'user disable NAME|ID',
    summary: 'disable an account and end its sessions',
    args: [1, 1],
    async run(call) {
      const api = call.api();
      const result = await api.users.disable.mutate({ userId: await userId(api, call.args[0]!) });
      emit(call, result, (r) => `${call.args[0]} disabled; ${r.sessionsEnded} session(s) ended`);
      return 0;
    },
  },
  {
    usage: 'user enable NAME|ID',
    summary: 'enable a disabled account',
    args: [1, 1],
    async run(call) {
      const api = call.api();
      const result = await api.users.enable.mutate({ userId: await userId(api, call.args[0]!) });
      emit(call, result, () => `${call.args[0]} enabled`);
      return 0;
    },
  },
  {
    usage: 'user reset-password NAME|ID',
    summary: `set a new ${NEW_PASSWORD}; ends the user's sessions`,
    args: [1, 1],
    async run(call) {
      const api = call.api();
      const id = await userId(api, call.args[0]!);
      const password = await readSecret(`New password for ${call.args[0]}`, 'TIANQI_NEW_PASSWORD');
      const result = await api.users.resetPassword.mutate({ userId: id, password });
      emit(call, result, (r) => `password of ${call.args[0]} reset; ${r.sessionsEnded} session(s) ended`);
      return 0;
    },
  },
];
