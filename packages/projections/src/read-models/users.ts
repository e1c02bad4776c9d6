import { foldRows, type Row, rowStamp } from '../fold-rows.js';
import type { Projection } from '../projection.js';
import type { TableDef } from '../table-def.js';

export const usersTable: TableDef = {
  name: 'users',
  key: ['user_id'],
  columns: {
    user_id: 'text NOT NULL',
    username: 'text NOT NULL',
    role: 'text NOT NULL',
    disabled: 'boolean NOT NULL',
    /** Public keys only; password hashes never reach a read model. */
    ssh_keys: 'jsonb NOT NULL',
    ...rowStamp,
  },
  indexes: ['username'],
};

interface UserRow extends Row {
  ssh_keys: { fingerprint: string }[];
}

export const usersProjection: Projection = {
  name: 'users',
  version: 1,
  tables: [usersTable],
  apply: (ctx, events) =>
    foldRows<UserRow>(ctx, usersTable, 'user', events, (row, e) => {
      switch (e.type) {
        case 'UserRegistered':
          return {
            user_id: e.data.userId,
            username: e.data.username,
            role: e.data.role,
            disabled: false,
            ssh_keys: [],
            created_at: e.recordedAt.toISOString(),
          };
        case 'RoleChanged':
          return row && { ...row, role: e.data.role };
        case 'UserDisabled':
          return row && { ...row, disabled: true };
        case 'UserEnabled':
          return row && { ...row, disabled: false };
        case 'SshKeyAdded':
          return (
            row && {
              ...row,
              ssh_keys: [...row.ssh_keys, { ...e.data, added_at: e.recordedAt.toISOString() }],
            }
          );
        case 'SshKeyRemoved':
          return (
            row && { ...row, ssh_keys: row.ssh_keys.filter((k) => k.fingerprint !== e.data.fingerprint) }
          );
        default:
          return row; // PasswordChanged: a secret, and nothing a reader needs
      }
    }),
};
