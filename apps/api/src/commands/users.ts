import {
  parseOrThrow,
  type Role,
  streams,
  TianqiError,
  type UserCommand,
  type UserState,
  usernameSchema,
} from '@tianqi/domain';
import type { PlatformStore } from '@tianqi/projections';
import { hashPassword, verifyPassword } from '../security/passwords.js';
import { type AggregateLoader, aggregates } from './aggregates.js';
import type { CommandContext } from './context.js';
import { type CommandResult, execute } from './execute.js';
import { newId } from './ids.js';
import { claimName, nameHolder } from './names.js';

export interface UserCommands {
  register(
    input: { username: string; password: string; role?: Role },
    ctx: CommandContext,
  ): Promise<CommandResult>;
  changePassword(userId: string, password: string, ctx: CommandContext): Promise<CommandResult>;
  act(
    userId: string,
    command: Exclude<UserCommand, { type: 'RegisterUser' }>,
    ctx: CommandContext,
  ): Promise<CommandResult>;
  /** The user whose name and password these are, or null (same time either way). Disabled users get null. */
  verifyLogin(username: string, password: string): Promise<UserView | null>;
  byUsername(username: string): Promise<UserView | null>;
  get(userId: string): Promise<UserView | null>;
}

/** A user as anything outside this module sees one: never with the password hash. */
export type UserView = Omit<UserState, 'passwordHash'>;

function view(state: UserState): UserView {
  const { passwordHash: _hash, ...rest } = state;
  return rest;
}

export function userCommands(store: PlatformStore, loader: AggregateLoader): UserCommands {
  const load = (userId: string) => loader.load(streams.user(userId), aggregates.user);
  const stateByUsername = async (username: string) => {
    const holder = await nameHolder(loader, 'user', username);
    return holder ? (await load(holder)).state : null;
  };
  return {
    async register(input, ctx) {
      const username = parseOrThrow(usernameSchema, input.username, 'username');
      const passwordHash = await hashPassword(input.password);
      const userId = newId();
      return execute(store, ctx, userId, streams.user(userId), async () => [
        {
          streamId: streams.user(userId),
          expectedVersion: 'no_stream',
          events: aggregates.user.decide(
            { type: 'RegisterUser', userId, username, role: input.role ?? 'user', passwordHash },
            aggregates.user.initial,
          ),
        },
        await claimName(loader, 'user', username, userId),
      ]);
    },
    async changePassword(userId, password, ctx) {
      const passwordHash = await hashPassword(password);
      return this.act(userId, { type: 'ChangePassword', passwordHash }, ctx);
    },
    async act(userId, command, ctx) {
      if ((command as { type?: unknown }).type === 'RegisterUser') {
        throw new TianqiError('validation', 'a user is registered with register(), which claims the name');
      }
      return execute(store, ctx, userId, streams.user(userId), async () => {
        const { state, version } = await load(userId);
        return [
          {
            streamId: streams.user(userId),
            expectedVersion: version,
            events: aggregates.user.decide(command, state),
          },
        ];
      });
    },
    async verifyLogin(username, password) {
      const user = usernameSchema.safeParse(username).success ? await stateByUsername(username) : null;
      const ok = await verifyPassword(user?.passwordHash ?? null, password);
      return ok && user && !user.disabled ? view(user) : null;
    },
    async byUsername(username) {
      const user = await stateByUsername(username);
      return user ? view(user) : null;
    },
    async get(userId) {
      const { state } = await load(userId);
      return state.exists ? view(state) : null;
    },
  };
}

/** Creates the first admin from configuration when that name is free; an existing user is left alone. */
export async function ensureAdmin(
  users: UserCommands,
  admin: { username: string; password: string },
): Promise<'created' | 'exists'> {
  if (await users.byUsername(admin.username)) return 'exists';
  try {
    await users.register({ ...admin, role: 'admin' }, { actor: { kind: 'system', name: 'bootstrap' } });
    return 'created';
  } catch (err) {
    if (err instanceof TianqiError && err.code === 'conflict') return 'exists';
    throw err;
  }
}
