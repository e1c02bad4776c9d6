import { describe, expect, it } from 'vitest';
import {
  decideInstance,
  evolveInstance,
  type InstanceCommand,
  type InstanceEvent,
  initialInstanceState,
} from '../src/index.js';
import { givenFor } from './given.js';

const allocation = {
  instanceId: 'inst000001',
  cpuCores: 8,
  memoryGb: 32,
  systemDiskGb: 50,
  dataDiskGb: 100,
  gpus: { kind: 'whole' as const, indices: [3] },
};
const create = {
  type: 'CreateInstance',
  instanceId: 'inst000001',
  name: 'train_01',
  ownerId: 'alice00001',
  image: { imageId: 'image00001', name: 'PyTorch', address: 'pytorch/pytorch:2.3' },
  spec: {
    specId: 'spec000001',
    name: '4090 x1',
    gpuModel: 'RTX 4090',
    gpuCount: 1,
    vramGb: 24,
    slice: false,
    cpuCores: 8,
    memoryGb: 32,
    systemDiskGb: 50,
    dataDiskGb: 100,
    pricePerHour: 2.5,
  },
  node: { nodeId: 'node000001', name: 'gpu-a' },
  allocation,
} as const satisfies InstanceCommand;
const { type: _create, ...createdData } = create;
const created: InstanceEvent = { type: 'InstanceCreated', data: { ...createdData, remark: '' } };
const stopRequested: InstanceEvent = { type: 'InstanceStopRequested', data: { reason: null } };
const startRequested: InstanceEvent = { type: 'InstanceStartRequested', data: {} };
const deleteRequested: InstanceEvent = { type: 'InstanceDeleteRequested', data: {} };
const containerCreated: InstanceEvent = {
  type: 'ContainerCreated',
  data: { containerId: 'abcdef0123456789', containerName: 'train_01-inst000001-1760000000' },
};
const started: InstanceEvent = { type: 'ContainerStarted', data: {} };
const removed: InstanceEvent = { type: 'ContainerRemoved', data: {} };
const released: InstanceEvent = { type: 'AllocationReleased', data: { nodeId: 'node000001' } };

const given = givenFor(decideInstance, evolveInstance, initialInstanceState);

describe('instance: what users ask for', () => {
  it('given nothing, when created, then InstanceCreated; wanted running, seen creating, holding its GPUs', () => {
    given().when(create).thenEvents([created]);
    expect(given(created).state).toMatchObject({
      desired: 'running',
      observed: 'creating',
      ownerId: 'alice00001',
      allocationHeld: true,
    });
  });

  it('refuses a bad name with a clear error, a foreign allocation, and a second create', () => {
    given()
      .when({ ...create, name: '训练 1' })
      .refused('validation', /name: an instance name is 1–63 letters, digits, "-" or "_"/);
    given()
      .when({ ...create, name: 'x'.repeat(64) })
      .refused('validation', /name/);
    given()
      .when({ ...create, name: '' })
      .refused('validation', /name/);
    given()
      .when({ ...create, allocation: { ...allocation, instanceId: 'other00001' } })
      .refused('validation', /another instance/);
    given(created)
      .when(create)
      .refused('conflict', /already exists/);
  });

  it('given running, when stopped, then StopRequested; stopping again decides nothing', () => {
    given(created).when({ type: 'StopInstance' }).thenEvents([stopRequested]);
    given(created, stopRequested).when({ type: 'StopInstance' }).thenEvents([]);
  });

  it('given stopped, when started, then StartRequested; starting a running one decides nothing', () => {
    given(created, stopRequested).when({ type: 'StartInstance' }).thenEvents([startRequested]);
    given(created).when({ type: 'StartInstance' }).thenEvents([]);
  });

  it('given running, when restarted, then RestartRequested numbered; given stopped, restart starts it', () => {
    given(created)
      .when({ type: 'RestartInstance' })
      .thenEvents([{ type: 'InstanceRestartRequested', data: { restart: 1 } }]);
    given(created, { type: 'InstanceRestartRequested', data: { restart: 1 } })
      .when({ type: 'RestartInstance' })
      .thenEvents([{ type: 'InstanceRestartRequested', data: { restart: 2 } }]);
    given(created, stopRequested).when({ type: 'RestartInstance' }).thenEvents([startRequested]);
  });

  it('given deleted, refuses start, stop, restart and delete', () => {
    for (const type of ['StartInstance', 'StopInstance', 'RestartInstance', 'DeleteInstance'] as const) {
      given(created, deleteRequested)
        .when({ type })
        .refused('conflict', /train_01 is deleted/);
    }
  });

  it('deletes from any live state; a stopped instance keeps its GPUs until its container is gone', () => {
    given(created).when({ type: 'DeleteInstance' }).thenEvents([deleteRequested]);
    given(created, stopRequested).when({ type: 'DeleteInstance' }).thenEvents([deleteRequested]);
    expect(given(created, stopRequested).state.allocationHeld).toBe(true);
  });

  it('refuses every command for an instance that does not exist', () => {
    given()
      .when({ type: 'StartInstance' })
      .refused('not_found', /no such instance/);
    given()
      .when({ type: 'RecordContainerStarted' })
      .refused('not_found', /no such instance/);
  });
});

describe('instance: what the platform observes', () => {
  it('records the container, then running; the same observation twice records nothing', () => {
    given(created)
      .when({
        type: 'RecordContainerCreated',
        containerId: 'abcdef0123456789',
        containerName: 'train_01-inst000001-1760000000',
      })
      .thenEvents([containerCreated]);
    given(created, containerCreated).when({ type: 'RecordContainerStarted' }).thenEvents([started]);
    given(created, containerCreated, started).when({ type: 'RecordContainerStarted' }).thenEvents([]);
    expect(given(created, containerCreated, started).state).toMatchObject({
      observed: 'running',
      containerId: 'abcdef0123456789',
    });
  });

  it('records an exit with its code and OOM flag; the instance keeps its GPUs', () => {
    given(created, containerCreated, started)
      .when({ type: 'RecordContainerExited', exitCode: 137, oomKilled: true })
      .thenEvents([{ type: 'ContainerExited', data: { exitCode: 137, oomKilled: true } }]);
  });

  it('the same change seen twice (the event stream and the sync) records nothing the second time', () => {
    const exited: InstanceEvent = { type: 'ContainerExited', data: { exitCode: 137, oomKilled: false } };
    const drift: InstanceEvent = {
      type: 'DriftDetected',
      data: { kind: 'exited', detail: 'should run, but its container Exited (137)' },
    };
    given(created, containerCreated, started, drift, exited)
      .when({
        type: 'RecordDrift',
        kind: 'exited',
        detail: 'should run, but its container Exited (137) 1 second ago',
      })
      .thenEvents([]);
    given(created, containerCreated, started, drift, exited)
      .when({ type: 'RecordContainerExited', exitCode: 137, oomKilled: false })
      .thenEvents([]);
    given(created, containerCreated, started, removed)
      .when({ type: 'RecordContainerRemoved' })
      .thenEvents([]);
    given(created, containerCreated, started, drift, exited, started, {
      type: 'DriftResolved',
      data: { kind: 'exited' },
    })
      .when({ type: 'RecordDriftResolved', kind: 'exited' })
      .thenEvents([]);
  });

  it('records a restart once per request, and refuses one nobody asked for', () => {
    const asked: InstanceEvent = { type: 'InstanceRestartRequested', data: { restart: 1 } };
    given(created, containerCreated, started, asked)
      .when({ type: 'RecordContainerRestarted', restart: 1 })
      .thenEvents([{ type: 'ContainerRestarted', data: { restart: 1 } }]);
    given(created, containerCreated, started, asked, { type: 'ContainerRestarted', data: { restart: 1 } })
      .when({ type: 'RecordContainerRestarted', restart: 1 })
      .thenEvents([]);
    given(created, started)
      .when({ type: 'RecordContainerRestarted', restart: 1 })
      .refused('validation', /no restart 1 was asked for/);
  });

  it('given deleted, when the container is removed, then Removed and the allocation is released', () => {
    given(created, containerCreated, started, deleteRequested)
      .when({ type: 'RecordContainerRemoved' })
      .thenEvents([removed, released]);
    expect(given(created, containerCreated, deleteRequested, removed, released).state.allocationHeld).toBe(
      false,
    );
  });

  it('given not deleted, a container that vanished keeps the allocation (the reconciler recreates it)', () => {
    given(created, containerCreated, started).when({ type: 'RecordContainerRemoved' }).thenEvents([removed]);
  });

  it('given a creation that failed before any container, releases the GPUs; start is refused, delete works', () => {
    const failed: InstanceEvent = {
      type: 'InstanceFailed',
      data: { phase: 'create', reason: 'pull access denied for nope/nope' },
    };
    given(created)
      .when({ type: 'RecordInstanceFailed', phase: 'create', reason: 'pull access denied for nope/nope' })
      .thenEvents([failed, released]);
    given(created, failed, released)
      .when({ type: 'StartInstance' })
      .refused('conflict', /could not be created \(pull access denied for nope\/nope\); delete it/);
    given(created, failed, released).when({ type: 'DeleteInstance' }).thenEvents([deleteRequested]);
    given(created, failed, released, deleteRequested)
      .when({ type: 'RecordContainerRemoved' })
      .thenEvents([removed]);
  });

  it('refuses a container seen running after the instance gave its GPUs back (it must be removed)', () => {
    const failed: InstanceEvent = { type: 'InstanceFailed', data: { phase: 'create', reason: 'timeout' } };
    given(created, failed, released)
      .when({ type: 'RecordContainerStarted' })
      .refused('conflict', /train_01 holds no resources any more; its container must be removed, not run/);
    given(created, failed, released)
      .when({ type: 'RecordContainerCreated', ...containerCreated.data })
      .thenEvents([containerCreated]);
  });

  it('a failed start keeps the allocation: the container exists and may start later', () => {
    given(created, containerCreated)
      .when({ type: 'RecordInstanceFailed', phase: 'start', reason: 'exec format error' })
      .thenEvents([{ type: 'InstanceFailed', data: { phase: 'start', reason: 'exec format error' } }]);
  });

  it('a reconcile that keeps failing is recorded once per error, and once when it gets through', () => {
    const retryAt = '2026-12-01T10:00:05.000Z';
    const refused = { type: 'RecordReconcileFailed', reason: 'connect ECONNREFUSED', retryAt } as const;
    const failing: InstanceEvent = {
      type: 'ReconcileFailed',
      data: { reason: 'connect ECONNREFUSED', retryAt },
    };
    given(created).when(refused).thenEvents([failing]);
    expect(given(created, failing).state.reconcileError).toBe('connect ECONNREFUSED');
    // The same error on the next retries: nothing more in the history.
    given(created, failing)
      .when({ ...refused, retryAt: '2026-12-01T10:00:35.000Z' })
      .thenEvents([]);
    // Another error is news.
    given(created, failing)
      .when({ ...refused, reason: 'Docker answered 500: no space left on device' })
      .thenEvents([
        {
          type: 'ReconcileFailed',
          data: { reason: 'Docker answered 500: no space left on device', retryAt },
        },
      ]);
    given(created, failing)
      .when({ type: 'RecordReconcileRecovered' })
      .thenEvents([{ type: 'ReconcileRecovered', data: {} }]);
    expect(given(created, failing, { type: 'ReconcileRecovered', data: {} }).state.reconcileError).toBeNull();
    // A pass that gets through with nothing failing before records nothing.
    given(created).when({ type: 'RecordReconcileRecovered' }).thenEvents([]);
  });

  it('a container Docker cannot start is discarded once: still creating, no container, counted until a start', () => {
    const reason = 'task abcdef0123456789: already exists';
    const discard = { type: 'RecordContainerDiscarded', containerId: 'abcdef0123456789', reason } as const;
    const discarded: InstanceEvent = {
      type: 'ContainerDiscarded',
      data: { containerId: 'abcdef0123456789', reason },
    };
    given(created, containerCreated).when(discard).thenEvents([discarded]);
    expect(given(created, containerCreated, discarded).state).toMatchObject({
      observed: 'creating',
      containerId: null,
      containersDiscarded: 1,
      allocationHeld: true,
    });
    // Recorded twice, or about a container that is not the instance's: nothing.
    given(created, containerCreated, discarded).when(discard).thenEvents([]);
    given(created, containerCreated)
      .when({ ...discard, containerId: '0123456789abcdef' })
      .thenEvents([]);
    const next: InstanceEvent = {
      type: 'ContainerCreated',
      data: { containerId: '0123456789abcdef', containerName: 'train_01-inst000001-1760000001' },
    };
    expect(given(created, containerCreated, discarded, next).state.containersDiscarded).toBe(1);
    expect(given(created, containerCreated, discarded, next, started).state.containersDiscarded).toBe(0);
  });

  it('given a discarded container, when the next one cannot be created, then it fails for now, not for good: the GPUs stay and it may start again', () => {
    const discarded: InstanceEvent = {
      type: 'ContainerDiscarded',
      data: { containerId: 'abcdef0123456789', reason: 'task abcdef0123456789: already exists' },
    };
    const failedCreate: InstanceEvent = {
      type: 'InstanceFailed',
      data: { phase: 'create', reason: 'image pytorch/pytorch:2.3 could not be pulled' },
    };
    const state = given(created, containerCreated, discarded, failedCreate).state;
    expect(state).toMatchObject({ creationFailed: false, allocationHeld: true, observed: 'failed' });
    given(created, containerCreated, discarded, failedCreate, stopRequested)
      .when({ type: 'StartInstance' })
      .thenEvents([startRequested]);
    // A first creation that fails is final, as before.
    expect(given(created, failedCreate).state.creationFailed).toBe(true);
  });

  it('records removed volumes and an unknown state (node unreachable)', () => {
    given(created, containerCreated, deleteRequested, removed, released)
      .when({ type: 'RecordVolumesRemoved', volumes: ['tianqi-inst000001-data'] })
      .thenEvents([{ type: 'VolumesRemoved', data: { volumes: ['tianqi-inst000001-data'] } }]);
    given(created, containerCreated, started)
      .when({ type: 'RecordObservedUnknown', reason: 'node gpu-a unreachable' })
      .thenEvents([{ type: 'InstanceObservedUnknown', data: { reason: 'node gpu-a unreachable' } }]);
  });
});

describe('instance: drift', () => {
  it('records a terminal session with who, from where, when and how long; one that ends before it starts is refused', () => {
    const session = {
      type: 'RecordTerminalSession' as const,
      sessionId: 'sess1',
      userId: 'alice00001',
      via: 'web' as const,
      ip: '10.0.0.7',
      startedAt: '2026-11-22T10:00:00.000Z',
      endedAt: '2026-11-22T10:02:30.000Z',
    };
    const { type: _type, ...data } = session;
    given(created, containerCreated, started)
      .when(session)
      .thenEvents([
        {
          type: 'TerminalSessionEnded',
          data: { ...data, seconds: 150, recordingId: null, command: null, exitCode: null },
        },
      ]);
    // One command through SSH: what it was and how it ended are kept with it.
    const scp = { ...session, via: 'ssh' as const, command: 'scp -t /data/', exitCode: 0 };
    given(created, containerCreated, started)
      .when(scp)
      .thenEvents([
        {
          type: 'TerminalSessionEnded',
          data: {
            ...data,
            via: 'ssh',
            seconds: 150,
            recordingId: null,
            command: 'scp -t /data/',
            exitCode: 0,
          },
        },
      ]);
    given(created)
      .when({ ...session, endedAt: '2026-11-22T09:00:00.000Z' })
      .refused('validation', /cannot end before it starts/);
  });

  it('records drift once when it starts and once when it ends', () => {
    const detected: InstanceEvent = {
      type: 'DriftDetected',
      data: { kind: 'exited', detail: 'exited with 137' },
    };
    given(created, containerCreated, started)
      .when({ type: 'RecordDrift', kind: 'exited', detail: 'exited with 137' })
      .thenEvents([detected]);
    given(created, containerCreated, started, detected)
      .when({ type: 'RecordDrift', kind: 'exited', detail: 'still exited' })
      .thenEvents([]);
    given(created, containerCreated, started, detected)
      .when({ type: 'RecordDriftResolved', kind: 'exited' })
      .thenEvents([{ type: 'DriftResolved', data: { kind: 'exited' } }]);
    given(created).when({ type: 'RecordDriftResolved', kind: 'missing' }).thenEvents([]);
    given(created)
      .when({ type: 'RecordDrift', kind: 'sideways' as 'exited', detail: '' })
      .refused('validation', /kind/);
  });
});

describe('instance: the data disk (its /data against the spec)', () => {
  const GiB = 1024 ** 3;
  const limit = 1 * GiB;
  const over = 1.5 * GiB;
  const measured = (usedBytes: number, policy: 'stop' | 'warn' = 'stop') =>
    ({ type: 'RecordDataDiskUsage', usedBytes, limitBytes: limit, policy }) as const;
  const warned = (policy: 'stop' | 'warn' = 'stop'): InstanceEvent => ({
    type: 'DataDiskOverLimit',
    data: { usedBytes: over, limitBytes: limit, policy },
  });
  const running = [created, containerCreated, started];

  it('under its size: nothing; first over it: the owner is warned, nothing stops yet', () => {
    given(...running)
      .when(measured(limit))
      .thenEvents([]);
    given(...running)
      .when(measured(over))
      .thenEvents([warned()]);
    expect(given(...running, warned()).state.dataDiskOver).toEqual({ usedBytes: over, limitBytes: limit });
  });

  it('still over at a later sync: stopped under "stop", with the reason; only warned once under "warn"', () => {
    given(...running, warned())
      .when(measured(over))
      .thenEvents([
        {
          type: 'InstanceStopRequested',
          data: { reason: 'its data disk holds 1.5 GB, over the 1 GB of its spec' },
        },
      ]);
    given(...running, warned('warn'))
      .when(measured(over, 'warn'))
      .thenEvents([]);
  });

  it('back under its size after a warning: the warning ends', () => {
    given(...running, warned())
      .when(measured(limit / 2))
      .thenEvents([{ type: 'DataDiskBackUnderLimit', data: { usedBytes: limit / 2, limitBytes: limit } }]);
    expect(
      given(...running, warned(), {
        type: 'DataDiskBackUnderLimit',
        data: { usedBytes: 1, limitBytes: limit },
      }).state.dataDiskOver,
    ).toBeNull();
  });

  it('a user’s start of an instance stopped over its size is refused when asked; an admin’s start goes through and begins a new grace', () => {
    const stoppedOver = [
      ...running,
      warned(),
      { type: 'InstanceStopRequested', data: { reason: 'x' } } as InstanceEvent,
    ];
    given(...stoppedOver)
      .when({ type: 'StartInstance', refuseOverDataDisk: true })
      .refused(
        'conflict',
        /cannot start: its \/data held 1\.5 GB at the last sync, over the 1 GB of its spec/,
      );
    given(...stoppedOver)
      .when({ type: 'RestartInstance', refuseOverDataDisk: true })
      .refused('conflict', /cannot start/);
    given(...stoppedOver)
      .when({ type: 'StartInstance' })
      .thenEvents([startRequested]);
    // After the start the next sync over the size warns again before anything stops.
    given(...stoppedOver, startRequested)
      .when(measured(over))
      .thenEvents([warned()]);
  });
});
