import { randomBytes } from 'node:crypto';
import { loadTestNodes } from '@tianqi/infra';
import { beforeAll, describe, expect, it } from 'vitest';
import { SESSION_COOKIE } from '../src/access/request-auth.js';
import { hotInstanceList } from '../src/http/hot-reads.js';
import { type ApiFixture, smallSpec, useApi } from './api-fixture.js';
import { until } from './docker-fixture.js';

/**
 * The instance list answered without tRPC's machinery (src/http/hot-reads.ts) must be the answer tRPC
 * gives, byte for byte, under the same rules; whatever it does not serve goes on to tRPC.
 */
const api = useApi();
const plain = loadTestNodes().nodes[1]!;
const ids = { imageId: '', specId: '', aliceId: '' };
type Person = Awaited<ReturnType<ApiFixture['user']>>;
let alice: Person;
let bob: Person;
const unique = () => `h${randomBytes(4).toString('hex')}`;

const query = (input: unknown) => `input=${encodeURIComponent(JSON.stringify(input))}`;
async function get(path: string, headers: Record<string, string> = {}) {
  const res = await fetch(`${api().url}/api/trpc/${path}`, { headers });
  return {
    status: res.status,
    type: res.headers.get('content-type'),
    vary: res.headers.get('vary'),
    text: await res.text(),
  };
}
const bearer = (token: string) => ({ authorization: `Bearer ${token}` });

/** What tRPC itself answers for this list: a batch of two of the same call is never served early. */
async function viaTrpc(input: unknown, token: string): Promise<string> {
  return (await viaTrpcWithType(input, token)).text;
}
async function viaTrpcWithType(input: unknown, token: string) {
  const answer = await get(
    `instances.list,instances.list?batch=1&${query({ 0: input, 1: input })}`,
    bearer(token),
  );
  expect(answer.status).toBe(200);
  const [one, two] = JSON.parse(answer.text) as unknown[];
  expect(two).toEqual(one);
  return { text: JSON.stringify(one), type: answer.type, vary: answer.vary };
}

beforeAll(async () => {
  const f: ApiFixture = api();
  alice = await f.user('alice');
  bob = await f.user('bob');
  ids.aliceId = alice.userId;
  const node = await f.admin.nodes.register.mutate({
    name: 'hot-node',
    cpuCores: 8,
    memoryGb: 16,
    systemDiskGb: 100,
    dockerAddress: `tcp://${plain.host}:${plain.port}`,
    useTls: false,
  });
  ids.imageId = (await f.admin.images.create.mutate({ name: unique(), address: 'tianqi-test/busybox' })).id;
  ids.specId = (await f.admin.specs.create.mutate(smallSpec(unique()))).id;
  await until(
    'the node to be connected',
    async () => (await f.admin.nodes.get.query({ nodeId: node.id })).dockerStatus === 'connected',
  );
  for (const [who, n] of [
    [alice, 3],
    [bob, 2],
  ] as const)
    for (let i = 0; i < n; i++)
      await who.client.instances.create.mutate({ name: unique(), imageId: ids.imageId, specId: ids.specId });
}, 60_000);

describe('the instance list served early', () => {
  it('is what tRPC answers, byte for byte: an admin’s, a user’s, one call or a batch of it', async () => {
    for (const [token, input, count] of [
      [api().adminToken, { limit: 50 }, 5],
      [api().adminToken, { ownerId: ids.aliceId, limit: 2, offset: 1 }, 3],
      [alice.token, { limit: 50 }, 3],
      // A user's list is their own, whatever owner they name.
      [bob.token, { ownerId: ids.aliceId }, 2],
    ] as const) {
      const { text: expected, type, vary } = await viaTrpcWithType(input, token);
      expect(JSON.parse(expected).result.data.total).toBe(count);
      const one = await get(`instances.list?${query(input)}`, bearer(token));
      expect(one).toEqual({ status: 200, type, vary, text: expected });
      const batch = await get(`instances.list?batch=1&${query({ 0: input })}`, bearer(token));
      expect(batch).toEqual({ status: 200, type, vary, text: `[${expected}]` });
    }
    // No input at all: the defaults.
    expect((await get('instances.list', bearer(alice.token))).text).toBe(
      await viaTrpc(undefined, alice.token),
    );
  });

  it('shows a change at once: a new instance is in the next list', async () => {
    const before = JSON.parse((await get(`instances.list?${query({})}`, bearer(alice.token))).text);
    const made = await alice.client.instances.create.mutate({
      name: unique(),
      imageId: ids.imageId,
      specId: ids.specId,
    });
    const after = JSON.parse((await get(`instances.list?${query({})}`, bearer(alice.token))).text);
    expect(after.result.data.total).toBe(before.result.data.total + 1);
    expect(after.result.data.items.map((i: { instanceId: string }) => i.instanceId)).toContain(made.id);
  });

  it('leaves everything else to tRPC, which refuses it as before', async () => {
    const signedOut = await get(`instances.list?${query({})}`);
    expect(signedOut.status).toBe(401);
    expect(JSON.parse(signedOut.text).error.data.code).toBe('UNAUTHORIZED');
    const badInput = await get(`instances.list?${query({ limit: 0 })}`, bearer(alice.token));
    expect(badInput.status).toBe(400);
    const cookie = `${SESSION_COOKIE}=${alice.token}`;
    const foreign = await get(`instances.list?${query({})}`, { cookie, origin: 'https://evil.example' });
    expect(foreign.status).toBe(403);
    const ownPage = await get(`instances.list?${query({})}`, { cookie, origin: api().url });
    expect(JSON.parse(ownPage.text).result.data.total).toBeGreaterThanOrEqual(3);
  });

  it('serves only the calls it can answer exactly as tRPC would', async () => {
    const services = api().platform.services;
    const served = (url: string, headers: Record<string, string> = bearer(alice.token)) =>
      hotInstanceList({ url: `/api/trpc/${url}`, headers }, services);
    expect(await served(`instances.list?${query({ limit: 5 })}`)).not.toBeNull();
    expect(await served(`instances.list?batch=1&${query({ 0: {} })}`)).not.toBeNull();
    for (const url of [
      `instances.list?${query({ limit: 0 })}`, // tRPC says what is wrong
      `instances.list?${query({ name: 'a\u0000b' })}`, // NUL: refused by tRPC with its path
      `instances.list?${query({ surprise: 1 })}`,
      `instances.list?batch=1&${query({ 0: {}, 1: {} })}`,
      `instances.list?batch=2&${query({ 0: {} })}`,
      `instances.list?batch=1&${query([{}])}`, // an array: tRPC refuses it
      'instances.listed',
      'instances.list/extra',
      `instances.list/%2e%2e/instances.list?${query({})}`, // not the path as sent
    ])
      expect(await served(url), url).toBeNull();
    // A client that takes JSON lines (tRPC streams them), or a body type on a GET: tRPC's to answer.
    const asked = `instances.list?batch=1&${query({ 0: {} })}`;
    expect(await served(asked, { ...bearer(alice.token), 'trpc-accept': 'application/jsonl' })).toBeNull();
    expect(await served(asked, { ...bearer(alice.token), accept: 'application/jsonl' })).toBeNull();
    expect(
      await served(asked, { ...bearer(alice.token), 'content-type': 'application/octet-stream' }),
    ).toBeNull();
    expect(await served(`instances.list?${query({})}`, {})).toBeNull();
    expect(await served(`instances.list?${query({})}`, bearer('not-a-session'))).toBeNull();
  });
});
