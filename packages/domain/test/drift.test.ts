import { describe, expect, it } from 'vitest';
import {
  awaitsReconciler,
  type ContainerSeen,
  findDrift,
  type InstanceState,
  initialInstanceState,
  instanceGone,
  orphanRemovable,
  wrongNodeDrift,
} from '../src/index.js';

/** An instance as the sync finds it: wanted running, seen running, with its container on record. */
const instance = (over: Partial<InstanceState> = {}): InstanceState => ({
  ...initialInstanceState,
  exists: true,
  instanceId: 'inst000001',
  nodeId: 'node000001',
  desired: 'running',
  observed: 'running',
  containerId: 'abcdef0123456789',
  allocationHeld: true,
  ...over,
});
const absent: ContainerSeen = { state: 'absent', recordedStillThere: false };
const exited: ContainerSeen = { state: 'stopped', status: 'Exited (137) 2 minutes ago' };

/** given the instance, when the sync sees its container so, then it finds… */
const given = (over: Partial<InstanceState> = {}) => ({
  whenSeen: (seen: ContainerSeen) => findDrift(instance(over), seen),
});

describe('drift: what an instance wants against what Docker shows of it', () => {
  it('given it should run, when its container has exited, then drift "exited" with what Docker says, and the exit is recorded', () => {
    expect(given().whenSeen(exited)).toEqual({
      drift: [{ kind: 'exited', detail: 'should run, but its container Exited (137) 2 minutes ago' }],
      observed: 'exited',
      resolved: [],
    });
  });

  it('given its creation failed, when its container is stopped, then no drift: a failure is not healed', () => {
    expect(given({ creationFailed: true, observed: 'failed' }).whenSeen(exited)).toEqual({
      drift: [],
      observed: null,
      resolved: [],
    });
  });

  it('given it should be stopped, when its container runs, then drift "running"', () => {
    expect(given({ desired: 'stopped' }).whenSeen({ state: 'running' }).drift).toEqual([
      { kind: 'running', detail: 'should be stopped, but its container runs' },
    ]);
  });

  it('given it is seen creating, when its container runs, then the start is recorded and there is no drift', () => {
    expect(given({ observed: 'creating' }).whenSeen({ state: 'running' })).toEqual({
      drift: [],
      observed: 'started',
      resolved: [],
    });
  });

  it('given no container on record yet (the reconciler started one it has not recorded), when one runs, then nothing is recorded: the reconciler records it with its start', () => {
    expect(given({ containerId: null, observed: 'creating' }).whenSeen({ state: 'running' })).toEqual({
      drift: [],
      observed: null,
      resolved: [],
    });
  });

  it('given its container is on record, when it is in no list and not there either, then drift "missing" and it is recorded removed', () => {
    expect(given().whenSeen(absent)).toEqual({
      drift: [{ kind: 'missing', detail: 'its container is gone' }],
      observed: 'removed',
      resolved: [],
    });
  });

  it('given its container is not listed, when it still answers a look of its own (made since), then no drift', () => {
    expect(given().whenSeen({ state: 'absent', recordedStillThere: true }).drift).toEqual([]);
  });

  it('given no container yet (a create under way), when none is listed, then no drift', () => {
    expect(given({ containerId: null, observed: 'creating' }).whenSeen(absent).drift).toEqual([]);
  });

  it('given it is being deleted, when its container is gone, then no drift', () => {
    expect(given({ desired: 'deleted' }).whenSeen(absent).drift).toEqual([]);
  });

  it('given its container is restarting, removing or just created, then nothing is observed (look again next time) and open drift counts as over: the platform is at it', () => {
    expect(given({ drifts: ['exited'] }).whenSeen({ state: 'changing' })).toEqual({
      drift: [],
      observed: null,
      resolved: ['exited'],
    });
  });

  it('given drift open before, when all agrees again, then it is resolved — but "wrong node" is left to the whole sync', () => {
    expect(
      given({ drifts: ['exited', 'missing', 'wrong_node'] }).whenSeen({ state: 'running' }).resolved,
    ).toEqual(['exited', 'missing']);
  });

  it('given drift open before, when it is still seen, then it stays open (not resolved, reported again)', () => {
    const f = given({ drifts: ['exited'] }).whenSeen(exited);
    expect(f.resolved).toEqual([]);
    expect(f.drift.map((d) => d.kind)).toEqual(['exited']);
  });
});

describe('drift: containers on the wrong node, and orphans', () => {
  const here = { nodeId: 'node000002', name: 'gpu-b' };

  it('given an instance of another node, when its container is seen here, then drift "wrong node" naming this node', () => {
    expect(wrongNodeDrift(instance(), here)).toEqual({
      kind: 'wrong_node',
      detail: 'a container of it runs on gpu-b',
    });
  });

  it('given the instance is gone or lives here, or there is none, then no "wrong node" drift', () => {
    expect(wrongNodeDrift(instance({ desired: 'deleted', observed: 'removed' }), here)).toBeNull();
    expect(wrongNodeDrift(instance({ nodeId: 'node000002' }), here)).toBeNull();
    expect(wrongNodeDrift(null, here)).toBeNull();
  });

  it('a container may be removed as an orphan only when no live instance owns it', () => {
    expect(orphanRemovable(null)).toBe(true);
    expect(orphanRemovable(instance({ desired: 'deleted', observed: 'removed' }))).toBe(true);
    expect(orphanRemovable(instance())).toBe(false); // it may be another registration of the same engine
  });

  it('an instance is gone once deleted and its container removed, not before', () => {
    expect(instanceGone({ desired: 'deleted', observed: 'removed' })).toBe(true);
    expect(instanceGone({ desired: 'deleted', observed: 'running' })).toBe(false);
    expect(instanceGone({ desired: 'running', observed: 'removed' })).toBe(false);
  });
});

describe('work the reconciler still owes an instance, which the sync hands it again when none is queued', () => {
  it('given it should run and is still being created, then there is work; once it runs, none', () => {
    expect(awaitsReconciler(instance({ observed: 'creating', containerId: null }))).toBe(true);
    expect(awaitsReconciler(instance())).toBe(false);
  });

  it('given a restart was asked and not yet done, then there is work', () => {
    expect(awaitsReconciler(instance({ restarts: 2, restartsDone: 1 }))).toBe(true);
    expect(awaitsReconciler(instance({ restarts: 2, restartsDone: 2 }))).toBe(false);
  });

  it('given a deletion whose volumes are not yet removed, then there is work, until they are', () => {
    expect(awaitsReconciler(instance({ desired: 'deleted', observed: 'removed' }))).toBe(true);
    expect(
      awaitsReconciler(instance({ desired: 'deleted', observed: 'removed', volumesRemoved: true })),
    ).toBe(false);
  });

  it('given a failure that waits for its owner, resources given back, a stop, or drift, then none', () => {
    expect(awaitsReconciler(instance({ observed: 'failed', creationFailed: true }))).toBe(false);
    expect(awaitsReconciler(instance({ observed: 'creating', allocationHeld: false }))).toBe(false);
    expect(awaitsReconciler(instance({ observed: 'failed' }))).toBe(false);
    expect(awaitsReconciler(instance({ desired: 'stopped', observed: 'exited' }))).toBe(false);
    // Exited or missing while wanted running is drift: healed or reported by the drift rules.
    expect(awaitsReconciler(instance({ observed: 'exited' }))).toBe(false);
    expect(awaitsReconciler(instance({ observed: 'removed' }))).toBe(false);
  });
});
