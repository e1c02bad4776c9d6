import { z } from 'zod';
import { TianqiError } from '../shared/errors.js';
import type { EventsOf } from '../shared/events.js';
import { idSchema } from '../shared/fields.js';
import { parseOrThrow } from '../shared/parse.js';
import { parseSshPublicKey } from './ssh-keys.js';

/**
 * Login names: lowercase letters, digits, `.`, `_`, `-`, starting with a letter, 2–32 long. No `+`:
 * the jumpbox reads `alice+myinst` as "alice's instance myinst".
 */
export const usernameSchema = z
  .string()
  .regex(
    /^[a-z][a-z0-9._-]{1,31}$/,
    'a username is 2–32 lowercase letters, digits, ".", "_" or "-", starting with a letter',
  );

/** What a person may choose as a password (the server hashes it before anything is stored). */
export const passwordSchema = z
  .string()
  .min(8, 'a password is at least 8 characters')
  .max(200, 'a password is at most 200 characters');

/** Only argon2id hashes are ever recorded: a plaintext or weaker hash is refused by the decider. */
export const passwordHashSchema = z.string().regex(/^\$argon2id\$v=19\$m=\d+,t=\d+,p=\d+\$[^$]+\$[^$]+$/, {
  message: 'a password must be stored as an argon2id hash',
});

export const roleSchema = z.enum(['admin', 'user']);

/** Where a sign-in came from: the web app, the CLI, or the SSH jumpbox. */
export const loginChannelSchema = z.enum(['web', 'cli', 'ssh']);
export type LoginChannel = z.output<typeof loginChannelSchema>;
export type Role = z.output<typeof roleSchema>;

export const userCommandSchema = z.discriminatedUnion('type', [
  z.object({
    type: z.literal('RegisterUser'),
    userId: idSchema,
    username: usernameSchema,
    role: roleSchema.default('user'),
    passwordHash: passwordHashSchema,
  }),
  z.object({ type: z.literal('ChangePassword'), passwordHash: passwordHashSchema }),
  z.object({ type: z.literal('ChangeRole'), role: roleSchema }),
  z.object({ type: z.literal('DisableUser') }),
  z.object({ type: z.literal('EnableUser') }),
  z.object({ type: z.literal('AddSshKey'), publicKey: z.string().max(16_384) }),
  z.object({ type: z.literal('RemoveSshKey'), fingerprint: z.string().min(1).max(100) }),
  /** A sign-in attempt on this account, kept for the audit log (the source IP is in the metadata). */
  z.object({
    type: z.literal('RecordLogin'),
    succeeded: z.boolean(),
    via: loginChannelSchema,
    method: z.enum(['password', 'publickey']),
    reason: z.string().max(200).default(''),
  }),
  /** A session of this account ended by signing out (every API server forgets it at once). */
  z.object({
    type: z.literal('RecordLogout'),
    sessionId: z.string().min(1).max(64),
    via: loginChannelSchema,
  }),
]);
export type UserCommand = z.input<typeof userCommandSchema>;

const sshKeySchema = z.object({
  algorithm: z.string(),
  key: z.string(),
  comment: z.string(),
  fingerprint: z.string(),
});

export const userEventSchemas = {
  UserRegistered: z.object({
    userId: z.string(),
    username: z.string(),
    role: roleSchema,
    passwordHash: passwordHashSchema,
  }),
  PasswordChanged: z.object({ passwordHash: passwordHashSchema }),
  RoleChanged: z.object({ role: roleSchema }),
  UserDisabled: z.object({}),
  UserEnabled: z.object({}),
  SshKeyAdded: sshKeySchema,
  SshKeyRemoved: z.object({ fingerprint: z.string() }),
  LoginSucceeded: z.object({ via: loginChannelSchema, method: z.enum(['password', 'publickey']) }),
  LoginFailed: z.object({
    via: loginChannelSchema,
    method: z.enum(['password', 'publickey']),
    reason: z.string(),
  }),
  SignedOut: z.object({ sessionId: z.string(), via: loginChannelSchema }),
};
export type UserEvent = EventsOf<typeof userEventSchemas>;

/**
 * Failed sign-ins under a name no account has: they have no user stream, so they go on one shared
 * stream, still in the audit log with their source IP.
 */
export const unknownLoginEventSchemas = {
  UnknownUserLoginFailed: z.object({
    username: z.string().max(64),
    via: loginChannelSchema,
    method: z.enum(['password', 'publickey']),
  }),
};

export interface UserState {
  exists: boolean;
  userId: string;
  username: string;
  role: Role;
  disabled: boolean;
  passwordHash: string;
  sshKeys: z.output<typeof sshKeySchema>[];
}

export const initialUserState: UserState = {
  exists: false,
  userId: '',
  username: '',
  role: 'user',
  disabled: false,
  passwordHash: '',
  sshKeys: [],
};

/** At most this many keys per user: enough for every laptop, few enough to try them all at login. */
export const MAX_SSH_KEYS = 20;

export function decideUser(input: UserCommand, state: UserState): UserEvent[] {
  const command = parseOrThrow(userCommandSchema, input);
  if (command.type === 'RegisterUser') {
    if (state.exists) throw new TianqiError('conflict', `user ${state.username} already exists`);
    const { type: _type, ...data } = command;
    return [{ type: 'UserRegistered', data }];
  }
  if (!state.exists) throw new TianqiError('not_found', 'no such user');
  switch (command.type) {
    case 'ChangePassword':
      return [{ type: 'PasswordChanged', data: { passwordHash: command.passwordHash } }];
    case 'ChangeRole':
      return command.role === state.role ? [] : [{ type: 'RoleChanged', data: { role: command.role } }];
    case 'DisableUser':
      return state.disabled ? [] : [{ type: 'UserDisabled', data: {} }];
    case 'EnableUser':
      return state.disabled ? [{ type: 'UserEnabled', data: {} }] : [];
    case 'AddSshKey': {
      const key = parseSshPublicKey(command.publicKey);
      if (state.sshKeys.some((k) => k.fingerprint === key.fingerprint)) {
        throw new TianqiError('conflict', `the key ${key.fingerprint} is already registered`);
      }
      if (state.sshKeys.length >= MAX_SSH_KEYS) {
        throw new TianqiError('conflict', `a user has at most ${MAX_SSH_KEYS} SSH keys; remove one first`);
      }
      return [{ type: 'SshKeyAdded', data: key }];
    }
    case 'RemoveSshKey':
      if (!state.sshKeys.some((k) => k.fingerprint === command.fingerprint)) {
        throw new TianqiError('not_found', `no SSH key ${command.fingerprint}`);
      }
      return [{ type: 'SshKeyRemoved', data: { fingerprint: command.fingerprint } }];
    case 'RecordLogin': {
      const { via, method } = command;
      return command.succeeded
        ? [{ type: 'LoginSucceeded', data: { via, method } }]
        : [{ type: 'LoginFailed', data: { via, method, reason: command.reason } }];
    }
    case 'RecordLogout':
      return [{ type: 'SignedOut', data: { sessionId: command.sessionId, via: command.via } }];
  }
}

export function evolveUser(state: UserState, event: UserEvent): UserState {
  switch (event.type) {
    case 'UserRegistered':
      return { ...state, exists: true, ...event.data };
    case 'PasswordChanged':
      return { ...state, passwordHash: event.data.passwordHash };
    case 'RoleChanged':
      return { ...state, role: event.data.role };
    case 'UserDisabled':
      return { ...state, disabled: true };
    case 'UserEnabled':
      return { ...state, disabled: false };
    case 'SshKeyAdded':
      return { ...state, sshKeys: [...state.sshKeys, event.data] };
    case 'SshKeyRemoved':
      return { ...state, sshKeys: state.sshKeys.filter((k) => k.fingerprint !== event.data.fingerprint) };
    case 'LoginSucceeded':
    case 'LoginFailed':
    case 'SignedOut':
      return state;
  }
}
