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
    const [held] = await a.acquire([lease]);
    if (!held) throw new Error('a did not take the free lease');
    const fenceA = `${lease}#${held.token}`;
    await p.commands.nodes.recordDockerStatus(nodeId, 'failed', 'seen by a', { ...system, fence: fenceA });
    expect(await b.acquire([lease])).toEqual([]); // held, not expired

    // A pauses past its lease; B takes the node over with a new token.
    await sleep(400);
    const [taken] = await b.acquire([lease]);
    if (!taken) throw new Error('b did not take the expired lease');
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

  it('a replica alone before a large fleet takes every node in one look and keeps them all', async () => {
    // Taken one by one, the first of 500 leases would expire before the last was taken, and be lost
    // and taken again (one more sync and reconciler pass over the node each time).
    const p = platform();
    const names = Array.from({ length: 500 }, (_, i) => `node:fleet-${i}-${randomUUID().slice(0, 4)}`);
    const starts = new Map<string, number>();
    const set = new ReplicaSet({
      pool: p.pool,
      replica: `alone-${names[0]}`,
      leaseMs: 800,
      leases: async () => names,
      work: {
        acquired: (name) => void starts.set(name, (starts.get(name) ?? 0) + 1),
        lost: async () => {},
      },
      logger: pino({ level: 'silent' }),
    });
    await set.start();
    expect(set.held).toHaveLength(500);
    await sleep(2_000); // ten looks
    expect(set.held).toHaveLength(500);
    const { rows } = await p.pool.query<{ max: string }>(
      'SELECT max(token)::text AS max FROM leases WHERE name = ANY($1)',
      [names],
    );
    expect(rows[0]!.max).toBe('1');
    expect([...starts.values()].every((n) => n === 1)).toBe(true);
    await set.stop();
  });

  it('a share-out that waits for seconds (a busy database) does not hold up the renewals: nothing is lost', async () => {
    const p = platform();
    const names = Array.from({ length: 20 }, (_, i) => `node:busy-${i}-${randomUUID().slice(0, 4)}`);
    let slow = false;
    let lost = 0;
    const set = new ReplicaSet({
      pool: p.pool,
      replica: `busy-${names[0]}`,
      leaseMs: 800,
      leases: async () => {
        if (slow) await sleep(2_500); // three lease times
        return names;
      },
      work: { acquired: () => {}, lost: async () => void lost++ },
      logger: pino({ level: 'silent' }),
    });
    await set.start();
    expect(set.held).toHaveLength(20);
    slow = true;
    await sleep(3_000);
    expect(lost).toBe(0);
    expect(set.held).toHaveLength(20);
    for (const name of names) expect(set.fence(name)).toBe(`${name}#1`);
    await set.stop();
  });

  it('replicas taking the same free leases at once each get their own, without waiting on each other', async () => {
    const p = platform();
    const names = Array.from({ length: 40 }, (_, i) => `node:race-${i}-${randomUUID().slice(0, 4)}`);
    const [a, b] = ['a', 'b'].map(
      (r) => new LeaseTable(p.pool, `race-${r}-${names[0]}`, randomUUID(), 60_000),
    );
    await a!.ensure(names);
    const [gotA, gotB] = await Promise.all([a!.acquire(names, 20), b!.acquire(names, 20)]);
    const taken = [...gotA, ...gotB].map((l) => l.name);
    expect(new Set(taken).size).toBe(taken.length); // nobody took a lease twice
    expect(gotA.length).toBeLessThanOrEqual(20);
    expect(gotB.length).toBeLessThanOrEqual(20);
    // What one skipped because the other was taking it is there for the next look.
    const more = await b!.acquire(names, 20 - gotB.length);
    expect(gotB.length + more.length).toBe(20);
    expect(new Set([...taken, ...more.map((l) => l.name)]).size).toBe(gotA.length + 20);
  });

  it('a replica whose first heartbeat fails takes nothing until one gets through', async () => {
    const p = platform();
    const names = Array.from({ length: 6 }, (_, i) => `node:hb-${i}-${randomUUID().slice(0, 4)}`);
    let failHeartbeats = true;
    // The lease table's pool, refusing the heartbeat statement while asked to.
    const pool = new Proxy(p.pool, {
      get(target, key) {
        if (key !== 'query') return Reflect.get(target, key);
        return (text: unknown, ...rest: unknown[]) => {
          if (failHeartbeats && typeof text === 'string' && text.includes('INSERT INTO replicas'))
            return Promise.reject(new Error('connection reset'));
          return (target.query as (...a: unknown[]) => unknown)(text, ...rest);
        };
      },
    });
    const set = new ReplicaSet({
      pool,
      replica: `hb-${names[0]}`,
      leaseMs: 800,
      leases: async () => names,
      work: { acquired: () => {}, lost: async () => {} },
      logger: pino({ level: 'silent' }),
    });
    await set.tick();
    expect(set.held).toEqual([]);
    failHeartbeats = false;
    await set.tick();
    expect(set.held).toHaveLength(6);
    await set.stop();
  });
});
