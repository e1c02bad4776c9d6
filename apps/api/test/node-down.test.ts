import type { TestNode } from '@tianqi/infra';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NodeClients } from '../src/docker/clients.js';
import { NodeHealth } from '../src/docker/node-health.js';
import { SyncService } from '../src/sync/sync-service.js';
import { containersOf, observed, register, startReconciler, until } from './docker-fixture.js';
import { ownDaemon } from './own-daemon.js';
import { image, signUp, spec, usePlatform } from './platform-fixture.js';

const daemon = ownDaemon({ suffix: 'down', ipBase: 30 });
const platform = usePlatform();
const logger = pino({ level: 'silent' });
let test: TestNode;
let imagesSh: string;

beforeAll(async () => {
  ({ node: test, imageSh: imagesSh } = await daemon.start());
}, 120_000);
afterAll(async () => {
  await daemon.remove();
});

const retriesOf = async (id: string) =>
  (
    await platform().pool.query<{ attempts: number; retry_at: Date }>(
      'SELECT attempts, retry_at FROM reconcile_retries WHERE instance_id = $1',
      [id],
    )
  ).rows[0] ?? null;
const readModelError = async (id: string) =>
  (
    await platform().pool.query<{ e: { reason: string; since: string; retryAt: string } | null }>(
      'SELECT reconcile_error AS e FROM rm.instances WHERE instance_id = $1',
      [id],
    )
  ).rows[0]!.e;

describe('a node whose daemon stops', () => {
  it('is failed after two checks, its instances are left alone, and when it is back pending work finishes', async () => {
    const p = platform();
    const owner = await signUp(p, 'downowner');
    const node = await register(p, test, { name: 'down-node' });
    const imageId = await image(p, { name: 'down-img', address: imagesSh });
    const specId = await spec(p, {
      name: 'down-cpu',
      gpuCount: 0,
      cpuCores: 0.5,
      memoryGb: 0.5,
      systemDiskGb: 1,
      pricePerHour: 0,
    });
    await p.settle();
    const reconciler = await startReconciler(p);
    const health = new NodeHealth();
    const sync = new SyncService({
      pool: p.pool,
      commands: p.commands,
      clients: new NodeClients(),
      health,
      policy: 'heal',
      logger,
      converge: (ids) => reconciler.converge(ids),
    });
    try {
      const kept = await p.commands.instances.create(
        { name: 'kept', imageId, specId, nodeId: node.id },
        owner,
      );
      const doomed = await p.commands.instances.create(
        { name: 'doomed', imageId, specId, nodeId: node.id },
        owner,
      );
      await observed(p, kept.id, 'running');
      await observed(p, doomed.id, 'running');

      await daemon.stop();
      await sync.runOnce();
      expect((await p.commands.nodes.get(node.id))!.dockerStatus).toBe('connected'); // one failed check
      await sync.runOnce();
      expect((await p.commands.nodes.get(node.id))!).toMatchObject({
        dockerStatus: 'failed',
        dockerStatusReason: expect.stringMatching(/^connection refused/),
      });
      // Nothing was recorded about its instances: a lost node is not a lost workload.
      expect(await p.commands.instances.get(kept.id)).toMatchObject({ observed: 'running', drifts: [] });

      // Asked while the node is down: the deletion waits, and says why to its owner.
      await p.commands.instances.request(doomed.id, 'DeleteInstance', owner);
      await until('the retries to be told', async () => (await retriesOf(doomed.id)) !== null);
      expect((await p.commands.instances.get(doomed.id))!.observed).toBe('running');
      await until('a few retries', async () => (await retriesOf(doomed.id))!.attempts >= 3, 30_000);
      await p.settle();
      const failing = await readModelError(doomed.id);
      expect(failing).toMatchObject({ reason: expect.stringMatching(/^node down-node is down/) });
      expect(Date.parse(failing!.since)).toBeLessThanOrEqual(Date.now());
      expect(Date.parse(failing!.retryAt)).toBeGreaterThan(Date.parse(failing!.since));
      // The history has the error once, not once per retry.
      const notes = async () =>
        (await p.store.readStream(`instance-${doomed.id}`)).filter((e) => e.type.startsWith('Reconcile'));
      expect((await notes()).map((e) => e.type)).toEqual(['ReconcileFailed']);
      expect((await retriesOf(doomed.id))!.retry_at.getTime()).toBeGreaterThan(Date.parse(failing!.retryAt));

      await daemon.start();
      await sync.runOnce();
      expect((await p.commands.nodes.get(node.id))!.dockerStatus).toBe('connected');
      await until(
        'the deletion to finish',
        async () => (await p.commands.instances.get(doomed.id))!.volumesRemoved,
        60_000,
      );
      expect(await containersOf(node.docker, doomed.id)).toEqual([]);
      // Got through: the error is over, in the history and on the page.
      expect((await notes()).map((e) => e.type)).toEqual(['ReconcileFailed', 'ReconcileRecovered']);
      await p.settle();
      expect(await readModelError(doomed.id)).toBeNull();
      expect(await retriesOf(doomed.id)).toBeNull();
      // The daemon stopped the other container as it went down: seen, and healed.
      await sync.runOnce();
      await observed(p, kept.id, 'running');
      await until(
        'the kept container to run',
        async () => (await containersOf(node.docker, kept.id))[0]?.State === 'running',
      );
    } finally {
      await sync.stop();
      await reconciler.stop();
    }
  }, 180_000);
});
