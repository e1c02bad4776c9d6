import { TRPCClientError } from '@trpc/client';
import fc from 'fast-check';
import { beforeAll, describe, expect, it } from 'vitest';
import { appRouter } from '../src/api/router.js';
import { useApi } from './api-fixture.js';

/**
 * Every mutation gets malformed and hostile input (fast-check): a valid input with one thing broken —
 * a field of the wrong type, a required field missing, an unknown field, NUL characters in text, or
 * not an object at all. Each must be answered with a validation error that says what is wrong, the
 * server must go on serving, and the event log must not gain a single event.
 */
const api = useApi();
const ID = 'abcdef123456';
const valid: Record<string, Record<string, unknown>> = {
  'auth.login': { username: 'someone', password: 'some-password', via: 'cli' },
  'auth.setup': { code: 'AAAA-BBBB-CCCC-DDDD', username: 'later', password: 'later-password' },
  'auth.changePassword': { currentPassword: 'admin-password', newPassword: 'another-password' },
  'auth.addSshKey': { publicKey: 'ssh-ed25519 AAAA comment' },
  'auth.removeSshKey': { fingerprint: 'SHA256:abc' },
  'users.create': { username: 'fuzzed', password: 'password-123', role: 'user' },
  'users.setRole': { userId: ID, role: 'admin' },
  'users.disable': { userId: ID },
  'users.enable': { userId: ID },
  'users.resetPassword': { userId: ID, password: 'password-123' },
  'images.create': { name: 'img', address: 'registry.example.com/team/img:1', description: 'd' },
  'images.update': { imageId: ID, changes: { description: 'd' } },
  'images.delete': { imageId: ID },
  'specs.create': {
    name: 'spec',
    gpuCount: 0,
    cpuCores: 1,
    memoryGb: 1,
    systemDiskGb: 1,
    pricePerHour: 1,
    remark: 'r',
  },
  'specs.update': { specId: ID, changes: { remark: 'r' } },
  'specs.delete': { specId: ID },
  'nodes.register': {
    name: 'n',
    cpuCores: 1,
    memoryGb: 1,
    systemDiskGb: 1,
    dockerAddress: 'tcp://127.0.0.1:2376',
    useTls: false,
    remark: 'r',
  },
  'nodes.update': { nodeId: ID, changes: { remark: 'r' } },
  'nodes.delete': { nodeId: ID },
  'nodes.check': { nodeId: ID },
  'instances.create': { name: 'inst', imageId: ID, specId: ID, remark: 'r' },
  'instances.start': { instanceId: ID },
  'instances.stop': { instanceId: ID },
  'instances.restart': { instanceId: ID },
  'instances.delete': { instanceId: ID },
  'drift.converge': { instanceIds: [ID] },
};
/** Mutations that take no input at all: nothing to get wrong. */
const NO_INPUT = ['auth.logout', 'drift.syncNow'];

const mutations = Object.entries(appRouter._def.procedures)
  .filter(([, p]) => (p as unknown as { _def: { type: string } })._def.type === 'mutation')
  .map(([name]) => name);

const wrongValue = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.string(), { maxLength: 3 }),
  fc.dictionary(fc.string(), fc.string(), { maxKeys: 2 }),
);
const nul = fc
  .tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }))
  .map(([a, b]) => `${a}\u0000${b}`);

/** One way to break a valid input. */
function broken(base: Record<string, unknown>) {
  const keys = Object.keys(base);
  const key = fc.constantFrom(...keys);
  const textKeys = keys.filter((k) => typeof base[k] === 'string');
  const required = keys.filter((k) => !OPTIONAL.has(k));
  return fc.oneof(
    // A field of the wrong type (a string where a number goes, and so on).
    fc
      .tuple(key, wrongValue)
      .filter(([k, v]) => typeof v !== typeof base[k])
      .map(([k, v]) => ({ ...base, [k]: v })),
    // A required field missing.
    ...(required.length > 0
      ? [
          fc
            .constantFrom(...required)
            .map((k) => Object.fromEntries(Object.entries(base).filter(([x]) => x !== k))),
        ]
      : []),
    // A field nobody asked for.
    fc
      .string({ minLength: 1, maxLength: 12 })
      .filter((k) => !(k in base) && k !== '__proto__')
      .map((k) => ({ ...base, [k]: 'x' })),
    // NUL characters in text.
    ...(textKeys.length > 0
      ? [fc.tuple(fc.constantFrom(...textKeys), nul).map(([k, v]) => ({ ...base, [k]: v }))]
      : []),
    // Not an object.
    fc.oneof(fc.string(), fc.integer(), fc.array(fc.integer(), { maxLength: 3 }), fc.constant(null)),
  );
}

/** Fields of the valid inputs above that may be left out (they have defaults or are optional). */
const OPTIONAL = new Set(['via', 'role', 'description', 'remark', 'useTls', 'instanceIds']);

let eventsBefore = 0;
beforeAll(async () => {
  eventsBefore = await api().eventCount();
});

describe('malformed and hostile input to every mutation', () => {
  it('every mutation of the router is covered', () => {
    expect([...Object.keys(valid), ...NO_INPUT].sort()).toEqual(mutations.sort());
  });

  it.each(Object.keys(valid))(
    '%s answers bad input with a validation error and records nothing',
    async (name) => {
      const [group, proc] = name.split('.') as [string, string];
      const call = (input: unknown) =>
        (api().admin as unknown as Record<string, Record<string, { mutate(i: unknown): Promise<unknown> }>>)[
          group
        ]![proc]!.mutate(input);
      await fc.assert(
        fc.asyncProperty(broken(valid[name]!), async (input) => {
          const error = await call(input).then(
            () => null,
            (e: unknown) => e,
          );
          expect(error, JSON.stringify(input)).toBeInstanceOf(TRPCClientError);
          const e = error as TRPCClientError<typeof appRouter>;
          expect(e.data?.tianqiCode, `${JSON.stringify(input)} → ${e.message}`).toBe('validation');
          expect(e.data?.httpStatus).toBe(400);
          expect(e.message).not.toMatch(/internal error/);
          expect(e.message.length).toBeGreaterThan(5);
        }),
        { numRuns: 25 },
      );
    },
  );

  it('the server still serves, and the event log gained nothing', async () => {
    expect(await api().admin.auth.me.query()).toMatchObject({ username: 'admin' });
    expect((await fetch(`${api().url}/readyz`)).status).toBe(200);
    expect(await api().eventCount()).toBe(eventsBefore);
  });
});

describe('queries with dates PostgreSQL cannot hold, and NUL in text', () => {
  const FAR = '-271821-04-20'; // JavaScript's earliest date: far before anything PostgreSQL stores
  const queries: [string, (c: ReturnType<typeof api>['admin']) => Promise<unknown>, string][] = [
    ['audit.list from', (c) => c.audit.list.query({ from: FAR } as never), 'from'],
    ['audit.list to', (c) => c.audit.list.query({ to: '+275760-09-13' } as never), 'to'],
    ['instances.at time', (c) => c.instances.at.query({ instanceId: ID, time: FAR } as never), 'time'],
    ['usage.byUser from', (c) => c.usage.byUser.query({ from: FAR, to: '2026-01-01' } as never), 'from'],
    ['drift.history from', (c) => c.drift.history.query({ from: FAR } as never), 'from'],
    ['audit.list type with NUL', (c) => c.audit.list.query({ type: 'a\u0000b' }), 'type'],
  ];
  it.each(queries)('%s is a 400 that names the field', async (_name, call, field) => {
    const error = (await call(api().admin).then(
      () => null,
      (e: unknown) => e,
    )) as TRPCClientError<typeof appRouter>;
    expect(error).toBeInstanceOf(TRPCClientError);
    expect(error.data?.httpStatus).toBe(400);
    expect(error.data?.tianqiCode).toBe('validation');
    expect(error.message).toContain(field);
  });

  it('the audit export answers such a date or a NUL with a 400 before it starts, not a cut-off stream', async () => {
    const { url, adminToken } = api();
    for (const query of [`from=${FAR}`, 'to=%2B275760-09-13', 'type=%00']) {
      const res = await fetch(`${url}/api/audit/export?${query}`, {
        headers: { authorization: `Bearer ${adminToken}` },
      });
      expect(res.status, query).toBe(400);
      expect(((await res.json()) as { error: string }).error).toBe('validation');
    }
  });
});
