import { randomUUID } from 'node:crypto';
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { isLeaseLost } from '../src/replicas/lease-lost.js';
import { LeaseTable } from '../src/replicas/lease-table.js';
import { ReplicaSet } from '../src/replicas/replica-set.js';
import { connectedNode, system, usePlatform } from './platform-fixture.js';

const platform = usePlatform();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('leases in PostgreSQL', () => {
  it('a write under a lease another server has taken since is refused, and nothing of it is recorded', async () => {
    const p = platform();
    const nodeId = await connectedNode(p);
    const lease = `node:${nodeId}`;
    const a = new LeaseTable(p.pool, 'replica-a', randomUUID(), 300);
    const b = new LeaseTable(p.pool, 'replica-b', randomUUID(), 300);
    await a.ensure([lease]);
    const held = (await a.acquire(lease))!;
    const fenceA = `${lease}#${held.token}`;
    await p.commands.nodes.recordDockerStatus(nodeId, 'failed', 'seen by a', { ...system, fence: fenceA });
    expect(await b.acquire(lease)).toBeNull(); // held, not expired

    // A pauses past its lease; B takes the node over with a new token.
    await sleep(400);
    const taken = (await b.acquire(lease))!;
    expect(taken.token).toBe(held.token + 1n);
    const version = await p.store.streamVersion(`node-${nodeId}`);
    const late = await p.commands.nodes
      .recordDockerStatus(nodeId, 'connected', '', { ...system, fence: fenceA })
      .then(
        () => null,
        (err: unknown) => err,
      );
    expect(isLeaseLost(late)).toBe(true);
    expect(await p.store.streamVersion(`node-${nodeId}`)).toBe(version);

    await p.commands.nodes.recordDockerStatus(nodeId, 'connected', '', {
      ...system,
      fence: `${lease}#${taken.token}`,
    });
    const events = await p.store.readStream(`node-${nodeId}`, { fromVersion: version + 1 });
    expect(events.map((e) => e.metadata.fence)).toEqual([`${lease}#${taken.token}`]);
  });

  it('replicas share the leases evenly; a dead one’s go to the others, and it acts no more if it wakes', async () => {
    const p = platform();
    const names = Array.from({ length: 7 }, (_, i) => `work:${i}-${randomUUID().slice(0, 4)}`);
    const working = new Map<string, Set<string>>();
    const sets: ReplicaSet[] = [];
    const replica = (id: string) => {
      const mine = new Set<string>();
      working.set(id, mine);
      const set: ReplicaSet = new ReplicaSet({
        pool: p.pool,
        replica: `${id}-${names[0]}`,
        leaseMs: 800,
        leases: async () => names,
        work: {
          acquired: (name) => {
            // Whoever had it before may no longer act under it (a dead or paused one included).
            for (const other of sets) if (other !== set) expect(other.fence(name)).toBeNull();
            mine.add(name);
          },
          lost: async (name) => {
            mine.delete(name);
          },
        },
        logger: pino({ level: 'silent' }),
      });
      sets.push(set);
      return set;
    };
    const [a, b, c] = [replica('a'), replica('b'), replica('c')];
    // Looked at in turn, as their timers would (driven by hand here: the test decides who is alive).
    const look = async (alive: ReplicaSet[], rounds: number) => {
      for (let i = 0; i < rounds; i++) for (const s of alive) await s.tick();
    };
    await look(sets, 3);
    expect(sets.map((s) => s.held.length).sort()).toEqual([2, 2, 3]);
    expect(new Set(sets.flatMap((s) => s.held)).size).toBe(7);

    // c stops (a crash, a pause): after its lease time the other two hold everything between them.
    const cHeld = c.held;
    await sleep(900);
    await look([a, b], 3);
    expect([a.held.length, b.held.length].sort()).toEqual([3, 4]);
    expect(new Set([...a.held, ...b.held]).size).toBe(7);
    // c wakes: it holds no fence any more, and gives its work up at its first look.
    for (const name of cHeld) expect(c.fence(name)).toBeNull();
    await c.tick();
    expect(working.get('c')!.size).toBe(0);
    for (const s of sets) await s.stop();
  });
});
