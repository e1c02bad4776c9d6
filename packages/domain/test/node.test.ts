import { describe, expect, it } from 'vitest';
import {
  decideClaim,
  decideNode,
  decideRelease,
  evolveNode,
  initialNameClaimState,
  initialNodeState,
  type NodeCommand,
  type NodeEvent,
  type SpecDemand,
} from '../src/index.js';
import { givenFor } from './given.js';

const CERT = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
const SEALED = `v1.${'a'.repeat(16)}.${'b'.repeat(22)}.Y2lwaGVydGV4dA`;
const register = {
  type: 'RegisterNode',
  nodeId: 'node000001',
  name: '北京-A100-01',
  region: 'cn-north',
  cpuCores: 64,
  memoryGb: 512,
  systemDiskGb: 1000,
  dataDiskGb: 8000,
  publicIp: '203.0.113.7',
  privateIp: '10.0.0.7',
  sshUsername: 'root',
  sshPassword: SEALED,
  gpuModel: 'A100',
  gpuCount: 8,
  vramGbPerGpu: 80,
  dockerAddress: '10.0.0.7:2376',
  caCert: CERT,
  clientCert: CERT,
  clientKey: SEALED,
  hamiCoreDir: '/opt/hami-core/build',
} as const satisfies NodeCommand;
const given = givenFor(decideNode, evolveNode, initialNodeState);
const registered = given().when(register).events()[0] as NodeEvent;
const connected: NodeEvent = { type: 'NodeDockerStatusChanged', data: { status: 'connected', reason: '' } };
const gpu1: SpecDemand = {
  gpuModel: 'a100',
  gpuCount: 1,
  vramGb: 80,
  slice: false,
  cpuCores: 8,
  memoryGb: 64,
  systemDiskGb: 50,
  dataDiskGb: 100,
};
const allocated = (instanceId: string, indices: number[]): NodeEvent => ({
  type: 'ResourcesAllocated',
  data: {
    allocation: {
      instanceId,
      cpuCores: 8,
      memoryGb: 64,
      systemDiskGb: 50,
      dataDiskGb: 100,
      gpus: { kind: 'whole', indices },
    },
  },
});

describe('node (算力节点)', () => {
  it('registers with the seed defaults: SSH port 22, TLS on, listed, Docker status unknown, tcp:// address', () => {
    expect(registered).toMatchObject({
      type: 'NodeRegistered',
      data: { sshPort: 22, useTls: true, listed: true, dockerAddress: 'tcp://10.0.0.7:2376' },
    });
    expect(given(registered).state.dockerStatus).toBe('unknown');
  });

  it('takes secrets only sealed: a plaintext password or key is refused before it can reach the log', () => {
    given()
      .when({ ...register, sshPassword: 'hunter22' })
      .refused('validation', /sshPassword: not a sealed secret/);
    given()
      .when({ ...register, clientKey: '-----BEGIN PRIVATE KEY-----\nMII\n-----END PRIVATE KEY-----' })
      .refused('validation', /clientKey: not a sealed secret/);
  });

  it('refuses TLS without its certificates, GPUs without a model, bad addresses, IPs and ports', () => {
    given()
      .when({ ...register, caCert: null, clientKey: null })
      .refused('validation', /caCert: TLS needs the CA certificate; clientKey: TLS needs the client key/);
    given()
      .when({ ...register, gpuModel: null })
      .refused('validation', /gpuModel: a node with GPUs needs its GPU model/);
    given()
      .when({ ...register, dockerAddress: 'http://10.0.0.7' })
      .refused('validation', /dockerAddress: a Docker address is "tcp:\/\/host:port"/);
    given()
      .when({ ...register, dockerAddress: '10.0.0.7:99999' })
      .refused('validation', /dockerAddress/);
    given()
      .when({ ...register, publicIp: '300.1.1.1' })
      .refused('validation', /publicIp: not an IP address/);
    given()
      .when({ ...register, sshPort: 0 })
      .refused('validation', /sshPort: SSH port must be at least 1/);
    given()
      .when({ ...register, hamiCoreDir: 'relative/dir' })
      .refused('validation', /hamiCoreDir: the HAMi-core directory is an absolute path/);
    // Plain TCP without TLS, and a unix socket, need no certificates.
    given()
      .when({ ...register, useTls: false, caCert: null, clientCert: null, clientKey: null })
      .thenEvents([expect.objectContaining({ type: 'NodeRegistered' })] as NodeEvent[]);
    given()
      .when({ ...register, dockerAddress: 'unix:///var/run/docker.sock', caCert: null, clientKey: null })
      .thenEvents([expect.objectContaining({ type: 'NodeRegistered' })] as NodeEvent[]);
  });

  it('updates only what changed; clearing a secret is a change; turning TLS on without a CA is refused', () => {
    given(registered)
      .when({ type: 'UpdateNode', changes: { listed: false, sshPassword: null, region: 'cn-north' } })
      .thenEvents([{ type: 'NodeUpdated', data: { changes: { listed: false, sshPassword: null } } }]);
    given(registered)
      .when({ type: 'UpdateNode', changes: { caCert: null } })
      .refused('validation', /TLS needs the CA certificate/);
  });

  it('records the Docker status the platform saw, only when it changes', () => {
    given(registered).when({ type: 'RecordDockerStatus', status: 'connected' }).thenEvents([connected]);
    given(registered, connected).when({ type: 'RecordDockerStatus', status: 'connected' }).thenEvents([]);
    given(registered, connected)
      .when({
        type: 'RecordDockerStatus',
        status: 'failed',
        reason: 'x509: certificate signed by unknown authority',
      })
      .thenEvents([
        {
          type: 'NodeDockerStatusChanged',
          data: { status: 'failed', reason: 'x509: certificate signed by unknown authority' },
        },
      ]);
  });

  it('allocates the lowest free GPU indices, and re-checks: a full node says no capacity, with why', () => {
    given(registered, connected)
      .when({ type: 'AllocateResources', instanceId: 'inst000001', spec: gpu1 })
      .thenEvents([allocated('inst000001', [0])]);
    given(registered, connected, allocated('inst000001', [0]), allocated('inst000002', [1]))
      .when({ type: 'AllocateResources', instanceId: 'inst000003', spec: gpu1 })
      .thenEvents([allocated('inst000003', [2])]);
    const full = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => allocated(`inst00001${i}`, [i]));
    given(registered, connected, ...full)
      .when({ type: 'AllocateResources', instanceId: 'inst000099', spec: gpu1 })
      .refused('no_capacity', /cannot host this spec: .*0 of 8 GPU\(s\) free, the spec needs 1/);
    given(registered, connected, allocated('inst000001', [0]))
      .when({ type: 'AllocateResources', instanceId: 'inst000001', spec: gpu1 })
      .refused('conflict', /already holds resources/);
  });

  it('on a busy node, every state knows its own allocations: two creates decided on one state, then hundreds more', () => {
    // 0.25 of a core each: the node's 64 cores hold 256.
    const cpu: SpecDemand = {
      ...gpu1,
      gpuModel: null,
      gpuCount: 0,
      vramGb: 0,
      cpuCores: 0.25,
      memoryGb: 1,
      systemDiskGb: 1,
      dataDiskGb: 1,
    };
    const take = (instanceId: string): NodeEvent => ({
      type: 'ResourcesAllocated',
      data: {
        allocation: {
          instanceId,
          cpuCores: 0.25,
          memoryGb: 1,
          systemDiskGb: 1,
          dataDiskGb: 1,
          gpus: { kind: 'none' },
        },
      },
    });
    const ask = (instanceId: string): NodeCommand => ({ type: 'AllocateResources', instanceId, spec: cpu });
    const id = (i: number) => `inst${String(i).padStart(6, '0')}`;
    let state = given(registered, connected, ...Array.from({ length: 150 }, (_, i) => take(id(i)))).state;
    expect(decideNode(ask(id(150)), state)).toEqual([take(id(150))]);
    // Two decisions on the same state (one is refused at the append, say): each branch holds its own.
    const a = evolveNode(state, take('inst0000aa'));
    const b = evolveNode(state, take('inst0000bb'));
    expect(() => decideNode(ask('inst0000aa'), a)).toThrow(/already holds resources/);
    expect(decideNode(ask('inst0000bb'), a)).toEqual([take('inst0000bb')]);
    expect(() => decideNode(ask('inst0000bb'), b)).toThrow(/already holds resources/);
    expect(decideNode(ask('inst0000aa'), b)).toEqual([take('inst0000aa')]);
    expect(decideNode(ask('inst0000aa'), state)).toEqual([take('inst0000aa')]);
    // The first branch grows to the node's capacity, deciding each create on the state before it.
    state = a;
    for (let i = 151; i < 256; i++) {
      expect(decideNode(ask(id(i)), state)).toEqual([take(id(i))]);
      state = evolveNode(state, take(id(i)));
    }
    expect(() => decideNode(ask(id(3)), state)).toThrow(/already holds resources/);
    expect(() => decideNode(ask(id(200)), state)).toThrow(/already holds resources/);
    expect(() => decideNode(ask(id(999)), state)).toThrow(/0 CPU core\(s\) free, the spec needs 0.25/);
    // Given back, the cores are free again and the instance is no longer held.
    const released = evolveNode(state, { type: 'ResourcesReleased', data: { instanceId: id(200) } });
    expect(decideNode(ask(id(200)), released)).toEqual([take(id(200))]);
  });

  it('cards taken one create after another, each decided on the state before it, and on two branches of one state', () => {
    let state = given(registered, connected).state;
    for (let i = 0; i < 8; i++) {
      const [event] = decideNode(
        { type: 'AllocateResources', instanceId: `inst00010${i}`, spec: gpu1 },
        state,
      );
      expect(event).toEqual(allocated(`inst00010${i}`, [i]));
      state = evolveNode(state, event!);
      if (i === 1) {
        // A branch from here that gives card 1 back: card 1 is the next one free on it, not card 2.
        const back = evolveNode(state, { type: 'ResourcesReleased', data: { instanceId: 'inst000101' } });
        expect(decideNode({ type: 'AllocateResources', instanceId: 'inst000999', spec: gpu1 }, back)).toEqual(
          [allocated('inst000999', [1])],
        );
      }
    }
    expect(() =>
      decideNode({ type: 'AllocateResources', instanceId: 'inst000999', spec: gpu1 }, state),
    ).toThrow(/0 of 8 GPU\(s\) free/);
  });

  it('refuses to allocate on a node whose Docker is not connected, as node unavailable', () => {
    given(registered)
      .when({ type: 'AllocateResources', instanceId: 'inst000001', spec: gpu1 })
      .refused('node_unavailable', /Docker is unknown/);
  });

  it('releases an allocation once; the GPU is free again', () => {
    const released: NodeEvent = { type: 'ResourcesReleased', data: { instanceId: 'inst000001' } };
    given(registered, connected, allocated('inst000001', [0]))
      .when({ type: 'ReleaseResources', instanceId: 'inst000001' })
      .thenEvents([released]);
    given(registered, connected, allocated('inst000001', [0]), released)
      .when({ type: 'ReleaseResources', instanceId: 'inst000001' })
      .thenEvents([]);
    given(registered, connected, allocated('inst000001', [0]), released)
      .when({ type: 'AllocateResources', instanceId: 'inst000002', spec: gpu1 })
      .thenEvents([allocated('inst000002', [0])]);
  });

  it('refuses to delete a node with live instances (unlist it instead); deletes an idle one', () => {
    given(registered, connected, allocated('inst000001', [0]))
      .when({ type: 'DeleteNode' })
      .refused('conflict', /has 1 live instance\(s\); unlist it instead/);
    given(registered)
      .when({ type: 'DeleteNode' })
      .thenEvents([{ type: 'NodeDeleted', data: {} }]);
    given(registered, { type: 'NodeDeleted', data: {} })
      .when({ type: 'RecordDockerStatus', status: 'connected' })
      .refused('not_found', /no such node/);
  });
});

describe('name claims', () => {
  const claim = { scope: 'node', name: 'gpu-a', holderId: 'node000001', what: 'the node name' };
  it('given free, when claimed, then NameClaimed; the same holder again decides nothing', () => {
    const events = decideClaim(initialNameClaimState, claim);
    expect(events).toEqual([
      { type: 'NameClaimed', data: { scope: 'node', name: 'gpu-a', holderId: 'node000001' } },
    ]);
    expect(decideClaim({ holderId: 'node000001' }, claim)).toEqual([]);
  });
  it('given held by another, refuses with a conflict naming the name; after release it is free', () => {
    expect(() => decideClaim({ holderId: 'node000002' }, claim)).toThrow(
      /the node name "gpu-a" is already taken/,
    );
    expect(decideRelease({ holderId: 'node000002' }, 'node000002')).toEqual([
      { type: 'NameReleased', data: { holderId: 'node000002' } },
    ]);
    expect(decideRelease({ holderId: 'node000002' }, 'node000001')).toEqual([]);
  });
});

describe('node: orphan containers', () => {
  it('records an orphan once, and its going once', () => {
    const found: NodeEvent = {
      type: 'OrphanContainerFound',
      data: { containerId: 'abcdef012345', name: 'stray', instanceId: 'gone000001' },
    };
    given(registered)
      .when({ type: 'RecordOrphan', containerId: 'abcdef012345', name: 'stray', instanceId: 'gone000001' })
      .thenEvents([found]);
    given(registered, found)
      .when({ type: 'RecordOrphan', containerId: 'abcdef012345', name: 'stray', instanceId: 'gone000001' })
      .thenEvents([]);
    given(registered, found)
      .when({ type: 'RecordOrphanGone', containerId: 'abcdef012345' })
      .thenEvents([{ type: 'OrphanContainerGone', data: { containerId: 'abcdef012345' } }]);
  });
});

describe('node: the system disk limit', () => {
  const checked = (
    status: 'enforced' | 'unconfirmed' | 'unsupported',
    storageDriver: string,
    source: 'probe' | 'create',
    reason = '',
  ): NodeEvent => ({ type: 'SystemDiskLimitChecked', data: { status, storageDriver, reason, source } });

  it('is unknown until looked at; a probe records what docker info says, once', () => {
    expect(given(registered).state.systemDiskLimit.status).toBe('unknown');
    const probe = {
      type: 'RecordSystemDiskLimit',
      status: 'enforced',
      storageDriver: 'btrfs',
      source: 'probe',
    } as const;
    given(registered)
      .when(probe)
      .thenEvents([checked('enforced', 'btrfs', 'probe')]);
    given(registered, checked('enforced', 'btrfs', 'probe'))
      .when(probe)
      .thenEvents([]);
  });

  it('what a create found (Docker refused the size) outlasts a later probe of the same driver, unless an admin rechecks', () => {
    const refused = checked(
      'unsupported',
      'overlay2 on xfs',
      'create',
      "--storage-opt is supported only for overlay over xfs with 'pquota' mount option",
    );
    const probe = {
      type: 'RecordSystemDiskLimit',
      status: 'unconfirmed',
      storageDriver: 'overlay2 on xfs',
      source: 'probe',
    } as const;
    given(registered, refused).when(probe).thenEvents([]);
    given(registered, refused)
      .when({ ...probe, recheck: true })
      .thenEvents([checked('unconfirmed', 'overlay2 on xfs', 'probe')]);
    // Another driver (the node was set up again): the probe counts.
    given(registered, refused)
      .when({ ...probe, status: 'enforced', storageDriver: 'btrfs' })
      .thenEvents([checked('enforced', 'btrfs', 'probe')]);
    expect(given(registered, refused).state.systemDiskLimit).toMatchObject({
      status: 'unsupported',
      source: 'create',
    });
  });
});
