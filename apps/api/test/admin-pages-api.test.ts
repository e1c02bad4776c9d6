import { comparePositions } from '@tianqi/events';
import { loadTestNodes } from '@tianqi/infra';
import { beforeAll, describe, expect, it } from 'vitest';
import { type ApiFixture, useApi } from './api-fixture.js';
import { until } from './docker-fixture.js';

// What the admin's drift, audit and usage pages read: the policy in force, the audit log paged by
// position (no offsets) and filtered by node, and usage per calendar day, with names.
const api = useApi({ sync: { 'drift-policy': 'report' } });
const plain = loadTestNodes().nodes[1]!;
let nodeId: string;
let instanceId: string;
let carol: Awaited<ReturnType<ApiFixture['user']>>;
const IMAGES = 12;

beforeAll(async () => {
  const a = api();
  nodeId = (
    await a.admin.nodes.register.mutate({
      name: 'pages-node',
      cpuCores: 4,
      memoryGb: 8,
      systemDiskGb: 50,
      dockerAddress: `tcp://${plain.host}:${plain.port}`,
      useTls: false,
    })
  ).id;
  const imageId = (
    await a.admin.images.create.mutate({ name: 'busybox', address: loadTestNodes().images.sh })
  ).id;
  for (let i = 0; i < IMAGES; i++)
    await a.admin.images.create.mutate({ name: `img-${i}`, address: `registry.local/img:${i}` });
  const specId = (
    await a.admin.specs.create.mutate({
      name: 'cpu-small',
      gpuCount: 0,
      cpuCores: 0.5,
      memoryGb: 0.5,
      systemDiskGb: 1,
      pricePerHour: 3.6,
    })
  ).id;
  await until(
    'the node connected',
    async () => (await a.admin.nodes.get.query({ nodeId })).dockerStatus === 'connected',
  );
  carol = await a.user('carol');
  instanceId = (await carol.client.instances.create.mutate({ name: 'paged', imageId, specId })).id;
  await until(
    'the instance running',
    async () => (await a.admin.instances.get.query({ instanceId })).observed === 'running',
  );
  // The instances read model is brought up to date before the others, so the audit log can still
  // be behind what the instance shows: the walks below want a log that no longer grows.
  const { store, projections } = a.platform;
  for (let head = await store.head(); ; ) {
    await projections.waitFor(head);
    const now = await store.head();
    if (comparePositions(now, head) === 0) break;
    head = now;
  }
}, 90_000);

describe('the drift policy', () => {
  it('is the one configured (sync.drift-policy)', async () => {
    expect(await api().admin.drift.policy.query()).toEqual({ policy: 'report' });
  });
});

describe('the audit log paged by position', () => {
  it('walks newest first with `before`, and back with `after`, meeting every entry once', async () => {
    const a = api();
    const whole = await a.admin.audit.list.query({ limit: 500 });
    const seen: number[] = [];
    let before: number | undefined;
    for (;;) {
      const page = await a.admin.audit.list.query({ order: 'desc', limit: 7, before });
      expect(page.total).toBe(whole.total);
      seen.push(...page.items.map((e) => e.position));
      if (page.items.length < 7) break;
      before = page.items.at(-1)!.position;
    }
    expect(seen).toEqual(whole.items.map((e) => e.position).reverse());
    // Oldest first from a cursor: the entries after it, as offsets would give them.
    const cut = whole.items[5]!.position;
    const after = await a.admin.audit.list.query({ after: cut, limit: 4 });
    expect(after.items.map((e) => e.position)).toEqual(whole.items.slice(6, 10).map((e) => e.position));
    // Offsets still work (the CLI pages with them).
    const byOffset = await a.admin.audit.list.query({ offset: 6, limit: 4 });
    expect(byOffset.items).toEqual(after.items);
  });

  it('keeps to the filter while paging, with both edges', async () => {
    const a = api();
    const images = await a.admin.audit.list.query({ type: 'ImageRegistered', limit: 100 });
    expect(images.total).toBe(IMAGES + 1);
    const [first, , third] = images.items;
    const between = await a.admin.audit.list.query({
      type: 'ImageRegistered',
      after: first!.position,
      before: third!.position,
    });
    expect(between.items.map((e) => e.position)).toEqual([images.items[1]!.position]);
  });

  it("filters by node: the node's own events and those of the instances placed on it", async () => {
    const a = api();
    const { items } = await a.admin.audit.list.query({ nodeId, limit: 500 });
    const types = new Set(items.map((e) => e.type));
    expect(types).toContain('NodeRegistered');
    expect(types).toContain('ResourcesAllocated');
    expect(items.some((e) => e.instanceId === instanceId && e.streamId === `instance-${instanceId}`)).toBe(
      true,
    );
    expect(types).not.toContain('ImageRegistered');
    expect(items.every((e) => e.streamId === `node-${nodeId}` || e.instanceId === instanceId)).toBe(true);
  });

  it('refuses a cursor that is no position', async () => {
    await expect(api().admin.audit.list.query({ before: -1 })).rejects.toThrow(/before/);
  });
});

describe('usage per day', () => {
  it('cuts the running time into calendar days, every day listed, with the same total', async () => {
    const a = api();
    await new Promise((r) => setTimeout(r, 1500));
    const to = new Date(Date.now() + 1000);
    const from = new Date(to.getTime() - 3 * 86_400_000);
    const days = await a.admin.usage.byDay.query({ from, to });
    expect(days.length).toBe(4); // a part of the first day, two whole ones, today so far
    expect(days.map((d) => d.day)).toEqual(
      [3, 2, 1, 0].map((n) => new Date(to.getTime() - n * 86_400_000).toISOString().slice(0, 10)),
    );
    expect(days.slice(0, 3).every((d) => d.seconds === 0 && d.cost === 0 && d.instances === 0)).toBe(true);
    const [instance] = await a.admin.usage.byInstance.query({ from, to });
    expect(instance).toMatchObject({ instanceId, instanceName: 'paged', ownerName: 'carol' });
    expect(days[3]!.seconds).toBeGreaterThan(1);
    expect(days[3]!.instances).toBe(1);
    // Asked a moment later, the open interval runs on: the two agree to within that moment.
    expect(Math.abs(days[3]!.seconds - instance!.seconds)).toBeLessThan(2);
    const [user] = await a.admin.usage.byUser.query({ from, to });
    expect(user).toMatchObject({ ownerId: carol.userId, ownerName: 'carol', instances: 1 });
  });

  it('counts days in the zone asked for, and refuses one that is not a zone', async () => {
    const a = api();
    const from = new Date('2026-01-01T00:00:00Z');
    const to = new Date('2026-01-03T00:00:00Z');
    // In Shanghai (UTC+8) these 48 hours touch three calendar days.
    expect(
      (await a.admin.usage.byDay.query({ from, to, timeZone: 'Asia/Shanghai' })).map((d) => d.day),
    ).toEqual(['2026-01-01', '2026-01-02', '2026-01-03']);
    await expect(a.admin.usage.byDay.query({ from, to, timeZone: 'Mars/Olympus' })).rejects.toThrow(
      /time zone/,
    );
    // A bare offset, which PostgreSQL would read with its sign turned round, is refused, not misread.
    await expect(a.admin.usage.byDay.query({ from, to, timeZone: '+08:00' })).rejects.toThrow(/time zone/);
    await expect(carol.client.usage.byDay.query({ from, to })).rejects.toThrow(/admin/);
  });
});
