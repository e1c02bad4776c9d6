import { randomBytes } from 'node:crypto';
import { loadTestNodes } from '@tianqi/infra';
import { TRPCClientError } from '@trpc/client';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { appRouter } from '../src/api/router.js';
import { type ApiFixture, smallSpec, useApi } from './api-fixture.js';
import { until } from './docker-fixture.js';
import type { ApiClient } from './support/api-client.js';

/**
 * Every procedure of the API, called as nobody, as user A (who owns instance X), as user B and as an
 * admin; each cell is the exact outcome: `ok`, or the error code the server answers with.
 */
type Role = 'anon' | 'a' | 'b' | 'admin';
type Outcome = 'ok' | 'UNAUTHORIZED' | 'FORBIDDEN' | 'NOT_FOUND';
interface Caller {
  role: Role;
  client: ApiClient;
  /** Another session of the same person (for calls that end sessions). */
  fresh(): Promise<ApiClient>;
}

const api = useApi();
const plain = loadTestNodes().nodes[1]!;
const ids = { imageId: '', specId: '', nodeId: '', instanceX: '', userT: '', aUserId: '' };
const callers = {} as Record<Role, Caller>;
const NAME = { a: 'usera', b: 'userb', admin: 'admin' } as const;
const unique = () => `r${randomBytes(4).toString('hex')}`;

/** An Ed25519 public key line in authorized_keys form (random bytes make a well-formed blob). */
function sshKey(): string {
  const part = (b: Buffer) => Buffer.concat([Buffer.from([0, 0, 0, b.length]), b]);
  return `ssh-ed25519 ${Buffer.concat([part(Buffer.from('ssh-ed25519')), part(randomBytes(32))]).toString('base64')} rbac`;
}

const nodeInput = () => ({
  name: unique(),
  cpuCores: 4,
  memoryGb: 8,
  systemDiskGb: 50,
  dockerAddress: 'tcp://127.0.0.99:2376',
  useTls: false,
});
const imageInput = () => ({ name: unique(), address: 'tianqi-test/busybox' });
const specInput = () => smallSpec(unique());
const period = { from: new Date(Date.now() - 86_400_000), to: new Date(Date.now() + 3_600_000) };

/** A's own new instance (to delete without touching X). */
async function instanceOfA(): Promise<string> {
  return (
    await callers.a.client.instances.create.mutate({
      name: unique(),
      imageId: ids.imageId,
      specId: ids.specId,
    })
  ).id;
}
const admin = () => callers.admin.client;

/** A subscription's outcome: its first event, its error, or quiet for a second and a half (allowed). */
function firstOf(
  subscribe: (handlers: { onData: () => void; onError: (e: unknown) => void }) => { unsubscribe(): void },
): Promise<void> {
  return new Promise((resolve, reject) => {
    const sub = subscribe({
      onData: () => {
        clearTimeout(quiet);
        sub.unsubscribe();
        resolve();
      },
      onError: (e) => {
        clearTimeout(quiet);
        sub.unsubscribe();
        reject(e);
      },
    });
    const quiet = setTimeout(() => {
      sub.unsubscribe();
      resolve();
    }, 1_500);
  });
}

const USERS: Record<Role, Outcome> = { anon: 'UNAUTHORIZED', a: 'ok', b: 'ok', admin: 'ok' };
const ADMINS: Record<Role, Outcome> = { anon: 'UNAUTHORIZED', a: 'FORBIDDEN', b: 'FORBIDDEN', admin: 'ok' };
const OWNER: Record<Role, Outcome> = { anon: 'UNAUTHORIZED', a: 'ok', b: 'NOT_FOUND', admin: 'ok' };
const EVERYONE: Record<Role, Outcome> = { anon: 'ok', a: 'ok', b: 'ok', admin: 'ok' };

const table: [string, Record<Role, Outcome>, (c: Caller) => Promise<unknown>][] = [
  [
    'auth.login',
    EVERYONE,
    (c) => c.client.auth.login.mutate({ username: 'usera', password: 'a-password', via: 'cli' }),
  ],
  ['auth.me', EVERYONE, (c) => c.client.auth.me.query()],
  ['platform.info', USERS, (c) => c.client.platform.info.query()],
  ['fleet.overview', ADMINS, (c) => c.client.fleet.overview.query()],
  ['fleet.watch', ADMINS, (c) => firstOf((h) => c.client.fleet.watch.subscribe(undefined, h))],
  ['auth.setupStatus', EVERYONE, (c) => c.client.auth.setupStatus.query()],
  [
    // Refused to all as this client sends no app header (a browser's rule, as for a web login);
    // what it answers past that (a conflict, once an admin exists) is in api-setup.test.ts.
    'auth.setup',
    { anon: 'FORBIDDEN', a: 'FORBIDDEN', b: 'FORBIDDEN', admin: 'FORBIDDEN' },
    (c) => c.client.auth.setup.mutate({ code: 'AAAA-BBBB', username: 'later', password: 'later-password' }),
  ],
  ['auth.sshKeys', USERS, (c) => c.client.auth.sshKeys.query()],
  ['auth.addSshKey', USERS, (c) => c.client.auth.addSshKey.mutate({ publicKey: sshKey() })],
  [
    'auth.removeSshKey',
    USERS,
    async (c) => {
      // Anonymous never gets as far as needing a real fingerprint.
      const fingerprint =
        c.role === 'anon' ? 'SHA256:none' : (await c.client.auth.sshKeys.query())[0]!.fingerprint;
      return c.client.auth.removeSshKey.mutate({ fingerprint });
    },
  ],
  ['users.list', ADMINS, (c) => c.client.users.list.query()],
  [
    'users.create',
    ADMINS,
    (c) => c.client.users.create.mutate({ username: unique(), password: 'password-123' }),
  ],
  ['users.setRole', ADMINS, (c) => c.client.users.setRole.mutate({ userId: ids.userT, role: 'user' })],
  ['users.disable', ADMINS, (c) => c.client.users.disable.mutate({ userId: ids.userT })],
  ['users.enable', ADMINS, (c) => c.client.users.enable.mutate({ userId: ids.userT })],
  [
    'users.resetPassword',
    ADMINS,
    (c) => c.client.users.resetPassword.mutate({ userId: ids.userT, password: 'password-456' }),
  ],
  ['images.list', USERS, (c) => c.client.images.list.query()],
  ['images.create', ADMINS, (c) => c.client.images.create.mutate(imageInput())],
  [
    'images.update',
    ADMINS,
    (c) => c.client.images.update.mutate({ imageId: ids.imageId, changes: { description: unique() } }),
  ],
  [
    'images.delete',
    ADMINS,
    async (c) =>
      c.client.images.delete.mutate({ imageId: (await admin().images.create.mutate(imageInput())).id }),
  ],
  ['specs.list', USERS, (c) => c.client.specs.list.query()],
  ['specs.create', ADMINS, (c) => c.client.specs.create.mutate(specInput())],
  [
    'specs.update',
    ADMINS,
    (c) => c.client.specs.update.mutate({ specId: ids.specId, changes: { remark: unique() } }),
  ],
  [
    'specs.delete',
    ADMINS,
    async (c) =>
      c.client.specs.delete.mutate({ specId: (await admin().specs.create.mutate(specInput())).id }),
  ],
  ['nodes.list', ADMINS, (c) => c.client.nodes.list.query()],
  ['nodes.get', ADMINS, (c) => c.client.nodes.get.query({ nodeId: ids.nodeId })],
  ['nodes.register', ADMINS, (c) => c.client.nodes.register.mutate({ ...nodeInput(), listed: false })],
  [
    'nodes.update',
    ADMINS,
    (c) => c.client.nodes.update.mutate({ nodeId: ids.nodeId, changes: { remark: unique() } }),
  ],
  [
    'nodes.delete',
    ADMINS,
    async (c) =>
      c.client.nodes.delete.mutate({ nodeId: (await admin().nodes.register.mutate(nodeInput())).id }),
  ],
  ['nodes.check', ADMINS, (c) => c.client.nodes.check.mutate({ nodeId: ids.nodeId })],
  ['nodes.available', USERS, (c) => c.client.nodes.available.query({ specId: ids.specId })],
  ['instances.list', USERS, (c) => c.client.instances.list.query()],
  ['instances.get', OWNER, (c) => c.client.instances.get.query({ instanceId: ids.instanceX })],
  [
    'instances.create',
    USERS,
    (c) => c.client.instances.create.mutate({ name: unique(), imageId: ids.imageId, specId: ids.specId }),
  ],
  ['instances.stop', OWNER, (c) => c.client.instances.stop.mutate({ instanceId: ids.instanceX })],
  ['instances.start', OWNER, (c) => c.client.instances.start.mutate({ instanceId: ids.instanceX })],
  ['instances.restart', OWNER, (c) => c.client.instances.restart.mutate({ instanceId: ids.instanceX })],
  [
    'instances.delete',
    OWNER,
    async (c) =>
      c.client.instances.delete.mutate({
        instanceId: c.role === 'anon' ? ids.instanceX : await instanceOfA(),
      }),
  ],
  ['instances.history', OWNER, (c) => c.client.instances.history.query({ instanceId: ids.instanceX })],
  [
    'instances.at',
    OWNER,
    (c) => c.client.instances.at.query({ instanceId: ids.instanceX, time: new Date() }),
  ],
  ['instances.recordings', OWNER, (c) => c.client.instances.recordings.query({ instanceId: ids.instanceX })],
  // No recording has this id: the owner and the admin get as far as looking (not_found), B not even that.
  [
    'instances.recording',
    { anon: 'UNAUTHORIZED', a: 'NOT_FOUND', b: 'NOT_FOUND', admin: 'NOT_FOUND' },
    (c) => c.client.instances.recording.query({ instanceId: ids.instanceX, recordingId: 'none' }),
  ],
  ['instances.logs', OWNER, (c) => c.client.instances.logs.query({ instanceId: ids.instanceX, tail: 10 })],
  ['instances.stats', OWNER, (c) => c.client.instances.stats.query({ instanceId: ids.instanceX })],
  [
    'instances.followLogs',
    OWNER,
    (c) => firstOf((h) => c.client.instances.followLogs.subscribe({ instanceId: ids.instanceX }, h)),
  ],
  [
    'instances.liveStats',
    OWNER,
    (c) => firstOf((h) => c.client.instances.liveStats.subscribe({ instanceId: ids.instanceX }, h)),
  ],
  [
    'instances.watch',
    OWNER,
    (c) => firstOf((h) => c.client.instances.watch.subscribe({ instanceId: ids.instanceX }, h)),
  ],
  ['audit.list', ADMINS, (c) => c.client.audit.list.query({ limit: 5 })],
  ['audit.recordings', ADMINS, (c) => c.client.audit.recordings.query()],
  ['audit.eventTypes', ADMINS, (c) => c.client.audit.eventTypes.query()],
  ['drift.list', ADMINS, (c) => c.client.drift.list.query()],
  ['drift.policy', ADMINS, (c) => c.client.drift.policy.query()],
  ['drift.history', ADMINS, (c) => c.client.drift.history.query()],
  ['drift.converge', ADMINS, (c) => c.client.drift.converge.mutate({ instanceIds: [ids.instanceX] })],
  ['drift.syncNow', ADMINS, (c) => c.client.drift.syncNow.mutate()],
  ['usage.mine', USERS, (c) => c.client.usage.mine.query(period)],
  ['usage.byUser', ADMINS, (c) => c.client.usage.byUser.query(period)],
  ['usage.byInstance', ADMINS, (c) => c.client.usage.byInstance.query(period)],
  ['usage.byDay', ADMINS, (c) => c.client.usage.byDay.query(period)],
  // Last: these end sessions (each call uses a session of its own).
  [
    'auth.changePassword',
    USERS,
    async (c) => {
      const client = c.role === 'anon' ? c.client : await c.fresh();
      return client.auth.changePassword.mutate({
        currentPassword: `${c.role}-password`,
        newPassword: `${c.role}-password`,
      });
    },
  ],
  ['auth.logout', USERS, async (c) => (c.role === 'anon' ? c.client : await c.fresh()).auth.logout.mutate()],
];

beforeAll(async () => {
  const f: ApiFixture = api();
  for (const role of ['a', 'b'] as const)
    await f.admin.users.create.mutate({ username: NAME[role], password: `${role}-password` });
  // The admin's password for these rows is "admin-password", as the fixture made it.
  const session = async (role: Exclude<Role, 'anon'>) =>
    (await f.login(NAME[role], `${role}-password`)).client;
  callers.anon = { role: 'anon', client: f.anon, fresh: async () => f.anon };
  for (const role of ['a', 'b', 'admin'] as const)
    callers[role] = { role, client: await session(role), fresh: () => session(role) };
  ids.aUserId = (await callers.a.client.auth.me.query())!.userId;
  ids.userT = (await f.admin.users.create.mutate({ username: 'target', password: 'password-123' })).id;
  ids.nodeId = (
    await f.admin.nodes.register.mutate({
      name: 'rbac-node',
      cpuCores: 8,
      memoryGb: 16,
      systemDiskGb: 100,
      dockerAddress: `tcp://${plain.host}:${plain.port}`,
      useTls: false,
    })
  ).id;
  ids.imageId = (await f.admin.images.create.mutate(imageInput())).id;
  ids.specId = (await f.admin.specs.create.mutate(specInput())).id;
  await until(
    'the node to be connected',
    async () => (await f.admin.nodes.get.query({ nodeId: ids.nodeId })).dockerStatus === 'connected',
  );
  ids.instanceX = (
    await callers.a.client.instances.create.mutate({ name: 'x', imageId: ids.imageId, specId: ids.specId })
  ).id;
  await until(
    'X to run',
    async () =>
      (await callers.a.client.instances.get.query({ instanceId: ids.instanceX })).observed === 'running',
  );
}, 60_000);

async function outcomeOf(call: () => Promise<unknown>): Promise<string> {
  try {
    await call();
    return 'ok';
  } catch (err) {
    if (err instanceof TRPCClientError) return String(err.data?.code ?? err.message);
    throw err;
  }
}

describe('RBAC: every procedure as nobody, user A, user B and an admin', () => {
  it('the table names every procedure of the router, once', () => {
    const procedures = Object.keys(appRouter._def.procedures).sort();
    expect(table.map(([name]) => name).sort()).toEqual(procedures);
  });

  it.each(table)('%s', async (name, expected, call) => {
    const got = {} as Record<Role, string>;
    for (const role of ['anon', 'a', 'b', 'admin'] as const)
      got[role] = await outcomeOf(() => call(callers[role]));
    expect(got, name).toEqual(expected);
  });

  it('the HTTP routes beside tRPC: terminal, audit export, metrics', async () => {
    const f = api();
    // The rows above stopped, started and restarted X (and signed A out): its terminal opens once it
    // runs again.
    const owner = await callers.a.fresh();
    await until(
      'X to run again',
      async () => (await owner.instances.get.query({ instanceId: ids.instanceX })).observed === 'running',
    );
    const tokens: Record<Role, string | null> = {
      anon: null,
      a: (await f.login('usera', 'a-password')).token,
      b: (await f.login('userb', 'b-password')).token,
      admin: (await f.login('admin', 'admin-password')).token,
    };
    const status = async (role: Role, path: string) =>
      (
        await fetch(`${f.url}${path}`, {
          headers: tokens[role] ? { authorization: `Bearer ${tokens[role]}` } : {},
        })
      ).status;
    const upgrade = (role: Role) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(`${f.url.replace('http', 'ws')}/api/instances/${ids.instanceX}/terminal`, {
          headers: tokens[role] ? { authorization: `Bearer ${tokens[role]}` } : {},
        });
        ws.on('open', () => {
          ws.close();
          resolve(101);
        });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
      });
    const got = {} as Record<Role, [number, number, number]>;
    for (const role of ['anon', 'a', 'b', 'admin'] as const) {
      got[role] = [
        await upgrade(role),
        await status(role, '/api/audit/export?format=csv'),
        await status(role, '/metrics'),
      ];
    }
    expect(got).toEqual({
      anon: [401, 401, 200],
      a: [101, 403, 200],
      b: [404, 403, 200],
      admin: [101, 200, 200],
    });
  });
});
