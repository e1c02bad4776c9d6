import { randomBytes } from 'node:crypto';
import type { InstanceState } from '@tianqi/domain';
import { StandInDockerEngine } from '@tianqi/infra';
import type pg from 'pg';
import { describe, expect, it } from 'vitest';
import { seed } from '../src/bench/seed.js';
import { type CommandContext, systemContext } from '../src/commands/index.js';
import { LABEL_INSTANCE } from '../src/docker/labels.js';
import { containerRecipe } from '../src/reconciler/container-recipe.js';
import { installationOf } from './docker-fixture.js';
import { usePlatform } from './platform-fixture.js';

// The API bench writes its 10,000 instances in bulk through the deciders instead of the commands
// (src/bench/seed.ts). Here one seeded user and instance are set beside the same made by the
// commands (and the reconciler's records), event for event, so the seeding cannot drift from them.

const platform = usePlatform();
const PASSWORD = 'bench-password';

interface Stored {
  transactionId: string;
  streamId: string;
  type: string;
  data: unknown;
  metadata: { correlationId: string | null };
}

/** Every committed event, in order (store.readAll stops before transactions still running). */
async function everything(pool: pg.Pool): Promise<Stored[]> {
  const { rows } = await pool.query<Stored>(
    `SELECT transaction_id::text AS "transactionId", stream_id AS "streamId", type, data, metadata
     FROM events ORDER BY transaction_id, position`,
  );
  return rows;
}

/** The events of every transaction that wrote to `streamId`. */
function transactionsOf(events: Stored[], streamId: string): Stored[] {
  const ids = new Set(events.filter((e) => e.streamId === streamId).map((e) => e.transactionId));
  return events.filter((e) => ids.has(e.transactionId));
}

/**
 * What is compared: each event's stream kind, type, data and metadata, with the ids and names that
 * differ between the two runs written as placeholders; grouped by stream kind, each stream in order.
 */
function shape(events: Stored[], placeholders: Record<string, string>): string[] {
  return events
    .map((e) => {
      let text = JSON.stringify({
        stream: e.streamId.replace(/^(name-[^-]+)-.*$/, '$1').replace(/^([a-z]+)-.*$/, '$1'),
        type: e.type,
        data: e.data,
        // The store gives each append a correlation id of its own when the caller gives none.
        metadata: { ...e.metadata, correlationId: e.metadata.correlationId === null ? null : '<id>' },
      });
      for (const [value, placeholder] of Object.entries(placeholders))
        text = text.replaceAll(value, placeholder);
      // A container's name ends with the Unix time it was made.
      return text.replace(/<instance>-\d+/g, '<instance>-<time>');
    })
    .sort((a, b) => a.slice(0, a.indexOf('","type')).localeCompare(b.slice(0, b.indexOf('","type'))));
}

describe('the API bench seeding', () => {
  it('writes the events the register and create commands and the reconciler write', async () => {
    const p = platform();
    const engine = new StandInDockerEngine('/nonexistent/bench.sock', LABEL_INSTANCE);
    const seeded = await seed(p.store, [engine], { users: 1, instances: 1, nodes: 1, password: PASSWORD });
    const seededEvents = await everything(p.pool);
    const seededUser = seededEvents.find(
      (e) => e.type === 'UserRegistered' && (e.data as { username: string }).username === 'bench0',
    )!;
    const ownerId = seededUser.streamId.slice('user-'.length);
    const seededInstance = seededEvents.find((e) => e.type === 'InstanceCreated')!;
    const seededInstanceId = seededInstance.streamId.slice('instance-'.length);
    const seededContainer = [...engine.containers.values()][0]!;

    const { id: userId } = await p.commands.users.register(
      { username: 'made-user', password: PASSWORD },
      systemContext('bench'),
    );
    const owner: CommandContext = { actor: { kind: 'user', userId: ownerId, role: 'user' } };
    const { id: instanceId } = await p.commands.instances.create(
      { name: 'made-instance', imageId: seeded.imageId, specId: seeded.specId, nodeId: seeded.nodeIds[0] },
      owner,
    );
    const installation = await installationOf(p);
    const state = (await p.commands.instances.get(instanceId)) as InstanceState;
    const recipe = containerRecipe(state, {
      now: new Date(),
      hamiCoreDir: null,
      networkMode: '',
      installation,
    });
    const containerId = randomBytes(32).toString('hex');
    const reconciler = systemContext('reconciler');
    await p.commands.instances.record(
      instanceId,
      { type: 'RecordContainerCreated', containerId, containerName: recipe.name! },
      reconciler,
    );
    await p.commands.instances.record(instanceId, { type: 'RecordContainerStarted' }, reconciler);
    const made = (await everything(p.pool)).slice(seededEvents.length);

    const hashOf = (e: Stored) => (e.data as { passwordHash: string }).passwordHash;
    const madeUser = made.find((e) => e.type === 'UserRegistered')!;
    expect(
      shape(transactionsOf(made, `user-${userId}`), {
        [userId]: '<user>',
        [hashOf(madeUser)]: '<hash>',
        'made-user': '<name>',
      }),
    ).toEqual(
      shape(transactionsOf(seededEvents, `user-${ownerId}`), {
        [ownerId]: '<user>',
        [hashOf(seededUser)]: '<hash>',
        bench0: '<name>',
      }),
    );
    expect(
      shape(transactionsOf(made, `instance-${instanceId}`), {
        [instanceId]: '<instance>',
        [containerId]: '<container>',
        'made-instance': '<name>',
      }),
    ).toEqual(
      shape(transactionsOf(seededEvents, `instance-${seededInstanceId}`), {
        [seededInstanceId]: '<instance>',
        [seededContainer.Id]: '<container>',
        'inst-0': '<name>',
      }),
    );
    // And the container in the stand-in engine is labelled as the recipe labels it.
    const seededState = (await p.commands.instances.get(seededInstanceId)) as InstanceState;
    expect(seededContainer.Labels).toEqual(
      containerRecipe(seededState, { now: new Date(), hamiCoreDir: null, networkMode: '', installation })
        .Labels,
    );
  });
});
