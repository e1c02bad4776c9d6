import { TianqiError } from '@tianqi/domain';
import { getInstance, listNodes, listUsers } from '@tianqi/projections';
import { describe, expect, it } from 'vitest';
import { connectedNode, gpuNode, image, signUp, spec, system, usePlatform } from './platform-fixture.js';

const platform = usePlatform();
const code = (promise: Promise<unknown>) =>
  promise.then(
    () => 'ok',
    (err: unknown) => (err instanceof TianqiError ? err.code : `not a TianqiError: ${String(err)}`),
  );

describe('users', () => {
  it('registers with an argon2id hash, logs in with the password only, never with a wrong one', async () => {
    const p = platform();
    await p.commands.users.register({ username: 'carol', password: 'correct horse battery' }, system);
    const user = await p.commands.users.verifyLogin('carol', 'correct horse battery');
    expect(user).toMatchObject({ username: 'carol', role: 'user' });
    expect(user).not.toHaveProperty('passwordHash'); // never handed out, even to the login path
    const { rows: hashes } = await p.pool.query(
      `SELECT data->>'passwordHash' AS h FROM events WHERE type = 'UserRegistered' AND stream_id = $1`,
      [`user-${user!.userId}`],
    );
    expect(hashes[0].h).toMatch(/^\$argon2id\$v=19\$m=19456,t=2,p=1\$/);
    expect(await p.commands.users.verifyLogin('carol', 'correct horse battery!')).toBeNull();
    expect(await p.commands.users.verifyLogin('nobody', 'correct horse battery')).toBeNull();
    // The plaintext is nowhere in the log.
    const { rows } = await p.pool.query(
      `SELECT count(*)::int AS n FROM events WHERE data::text LIKE '%correct horse%'`,
    );
    expect(rows[0].n).toBe(0);
  });

  it('refuses a short password and a taken username (also when two sign up at once), whatever the case', async () => {
    const p = platform();
    await expect(p.commands.users.register({ username: 'dave', password: 'short' }, system)).rejects.toThrow(
      /password: a password is at least 8 characters/,
    );
    const outcomes = await Promise.all(
      [1, 2, 3].map(() =>
        code(p.commands.users.register({ username: 'erin', password: 'erin-password' }, system)),
      ),
    );
    expect(outcomes.sort()).toEqual(['conflict', 'conflict', 'ok']);
    await expect(
      p.commands.users.register({ username: 'erin', password: 'x'.repeat(9) }, system),
    ).rejects.toThrow(/the username "erin" is already taken/);
  });

  it('a disabled user cannot log in; changing the password takes effect; the read model has no hash', async () => {
    const p = platform();
    const frank = await signUp(p, 'frank');
    await p.commands.users.changePassword(frank.actor.userId, 'a brand new secret', frank);
    expect(await p.commands.users.verifyLogin('frank', 'frank-password')).toBeNull();
    expect(await p.commands.users.verifyLogin('frank', 'a brand new secret')).not.toBeNull();
    await p.commands.users.act(frank.actor.userId, { type: 'DisableUser' }, system);
    expect(await p.commands.users.verifyLogin('frank', 'a brand new secret')).toBeNull();
    await p.settle();
    const row = (await listUsers(p.pool)).find((u) => u.username === 'frank')!;
    expect(row).toMatchObject({ disabled: true, role: 'user' });
    expect(JSON.stringify(row)).not.toMatch(/argon2/);
  });
});

describe('nodes', () => {
  it('seals the password and client key: no plaintext in any event or read model; the platform can open them', async () => {
    const p = platform();
    const { id } = await p.commands.nodes.register(
      gpuNode({
        name: 'tls-node',
        useTls: true,
        sshPassword: 'node-root-pass-123',
        caCert: '-----BEGIN CERTIFICATE-----\nMIIBca\n-----END CERTIFICATE-----',
        clientCert: '-----BEGIN CERTIFICATE-----\nMIIBcert\n-----END CERTIFICATE-----',
        clientKey: '-----BEGIN PRIVATE KEY-----\nMIIEvQ-very-private\n-----END PRIVATE KEY-----',
      }),
      system,
    );
    await p.settle();
    const { rows } = await p.pool.query(
      `SELECT count(*)::int AS n FROM events WHERE data::text LIKE '%node-root-pass%' OR data::text LIKE '%very-private%'`,
    );
    expect(rows[0].n).toBe(0);
    const row = (await listNodes(p.pool)).find((n) => n.nodeId === id)!;
    expect(row).toMatchObject({ hasSshPassword: true, hasClientKey: true, dockerStatus: 'unknown' });
    expect(JSON.stringify(row)).not.toMatch(/node-root-pass|very-private|PRIVATE KEY/);
    const node = await p.commands.nodes.get(id);
    expect(p.commands.nodes.openSecrets(node!)).toEqual({
      sshPassword: 'node-root-pass-123',
      clientKey: '-----BEGIN PRIVATE KEY-----\nMIIEvQ-very-private\n-----END PRIVATE KEY-----',
    });
    // Clearing the password is an update; leaving the key out keeps it.
    await p.commands.nodes.update(id, { sshPassword: null, remark: 'rack 4' }, system);
    const after = await p.commands.nodes.get(id);
    expect(p.commands.nodes.openSecrets(after!)).toMatchObject({
      sshPassword: null,
      clientKey: expect.stringMatching(/very-private/),
    });
  });

  it('refuses a second node of the same name, renames free the old name, and deleting needs no live instances', async () => {
    const p = platform();
    const a = await connectedNode(p, { name: 'Rack-A' });
    expect(await code(p.commands.nodes.register(gpuNode({ name: 'rack-a ' }), system))).toBe('conflict');
    await p.commands.nodes.update(a, { name: 'rack-b' }, system);
    expect(await code(p.commands.nodes.register(gpuNode({ name: 'Rack-A' }), system))).toBe('ok');
    const alice = await signUp(p, 'nalice');
    const imageId = await image(p, { name: 'img-n', address: 'busybox' });
    const specId = await spec(p, {
      name: 'n-spec',
      gpuModel: 'RTX 4090',
      gpuCount: 1,
      vramGb: 24,
      cpuCores: 1,
      memoryGb: 1,
      systemDiskGb: 1,
      pricePerHour: 1,
    });
    await p.commands.instances.create({ name: 'pin', imageId, specId, nodeId: a }, alice);
    await expect(p.commands.nodes.delete(a, system)).rejects.toThrow(
      /has 1 live instance\(s\); unlist it instead/,
    );
    await p.commands.nodes.update(a, { listed: false }, system);
    await expect(
      p.commands.instances.create({ name: 'pin2', imageId, specId, nodeId: a }, alice),
    ).rejects.toMatchObject({
      code: 'node_unavailable',
    });
  });
});

describe('guards', () => {
  it('a rename that only changes case keeps the name taken', async () => {
    const p = platform();
    const id = await connectedNode(p, { name: 'Case-Node' });
    await p.commands.nodes.update(id, { name: 'case-node' }, system);
    expect(await code(p.commands.nodes.register(gpuNode({ name: 'CASE-NODE' }), system))).toBe('conflict');
    expect((await p.commands.nodes.get(id))!.name).toBe('case-node');
  });

  it("ids are the server's: an id in the input cannot replace them", async () => {
    const p = platform();
    const { id } = await p.commands.nodes.register(
      { ...gpuNode({ name: 'id-node' }), nodeId: 'evilnode01' } as never,
      system,
    );
    expect(id).not.toBe('evilnode01');
    await p.settle();
    const ids = (await listNodes(p.pool, { includeDeleted: true })).map((n) => n.nodeId);
    expect(ids).toContain(id);
    expect(ids).not.toContain('evilnode01');
  });

  it('users ask only for start, stop, restart and delete; registration only goes through register', async () => {
    const p = platform();
    const owner = await signUp(p, 'gowner');
    const nodeId = await connectedNode(p, { name: 'guard-node' });
    const imageId = await image(p, { name: 'img-g', address: 'busybox' });
    const specId = await spec(p, {
      name: 'g-cpu',
      gpuCount: 0,
      cpuCores: 1,
      memoryGb: 1,
      systemDiskGb: 1,
      pricePerHour: 0,
    });
    const { id } = await p.commands.instances.create({ name: 'guarded', imageId, specId, nodeId }, owner);
    await expect(
      p.commands.instances.request(id, 'RecordContainerRemoved' as never, owner),
    ).rejects.toMatchObject({ code: 'validation' });
    expect((await p.commands.nodes.get(nodeId))!.allocations).toHaveLength(1);
    await expect(
      p.commands.users.act(owner.actor.userId, { type: 'RegisterUser' } as never, system),
    ).rejects.toThrow(/registered with register\(\)/);
  });
});

describe('instances', () => {
  it('owner is the caller; another user cannot see or act on it; names are unique per owner and freed by delete', async () => {
    const p = platform();
    const [alice, bob, admin] = [
      await signUp(p, 'ialice'),
      await signUp(p, 'ibob'),
      await signUp(p, 'iadmin', 'admin'),
    ];
    await connectedNode(p, { name: 'inst-node' });
    const imageId = await image(p, { name: 'img-i', address: 'busybox:1.36' });
    const specId = await spec(p, {
      name: 'i-cpu',
      gpuCount: 0,
      cpuCores: 1,
      memoryGb: 1,
      systemDiskGb: 1,
      pricePerHour: 0.2,
    });
    await p.settle();
    const mine = await p.commands.instances.create({ name: 'notebook', imageId, specId }, alice);
    expect((await p.commands.instances.get(mine.id))!.ownerId).toBe(alice.actor.userId);
    // bob may use the same name; alice may not twice
    expect(await code(p.commands.instances.create({ name: 'notebook', imageId, specId }, bob))).toBe('ok');
    await expect(p.commands.instances.create({ name: 'NoteBook', imageId, specId }, alice)).rejects.toThrow(
      /the instance name "NoteBook" is already taken/,
    );
    expect(await code(p.commands.instances.request(mine.id, 'StopInstance', bob))).toBe('not_found');
    expect(await code(p.commands.instances.request(mine.id, 'StopInstance', admin))).toBe('ok');
    expect(await code(p.commands.instances.request(mine.id, 'DeleteInstance', alice))).toBe('ok');
    expect(await code(p.commands.instances.create({ name: 'notebook', imageId, specId }, alice))).toBe('ok');
    // The platform cannot create on behalf of nobody.
    expect(await code(p.commands.instances.create({ name: 'x', imageId, specId }, system))).toBe(
      'unauthorized',
    );
  });

  it('refuses bad input with the field named, unknown images and specs, and a slice on an image without slicing', async () => {
    const p = platform();
    const alice = await signUp(p, 'valice');
    const imageId = await image(p, { name: 'img-v', address: 'busybox' });
    const sliceSpec = await spec(p, {
      name: 'v-slice',
      gpuModel: 'RTX 4090',
      gpuCount: 1,
      vramGb: 8,
      slice: true,
      cpuCores: 1,
      memoryGb: 1,
      systemDiskGb: 1,
      pricePerHour: 1,
    });
    await expect(
      p.commands.instances.create({ name: 'a b', imageId, specId: sliceSpec }, alice),
    ).rejects.toThrow(/name: an instance name is 1–63 letters/);
    await expect(
      p.commands.instances.create(
        { name: 'ok', imageId, specId: sliceSpec, ownerId: 'evil' } as never,
        alice,
      ),
    ).rejects.toThrow(/Unrecognized key: "ownerId"/);
    expect(
      await code(
        p.commands.instances.create({ name: 'ok', imageId: 'nosuchimage', specId: sliceSpec }, alice),
      ),
    ).toBe('not_found');
    await expect(
      p.commands.instances.create({ name: 'ok', imageId, specId: sliceSpec }, alice),
    ).rejects.toThrow(/image img-v does not support GPU memory slicing/);
  });

  it('a retried create with the same command id creates one instance and answers with its id', async () => {
    const p = platform();
    const alice = await signUp(p, 'ralice');
    await connectedNode(p, { name: 'retry-node' });
    const imageId = await image(p, { name: 'img-r', address: 'busybox' });
    const specId = await spec(p, {
      name: 'r-cpu',
      gpuCount: 0,
      cpuCores: 1,
      memoryGb: 1,
      systemDiskGb: 1,
      pricePerHour: 0,
    });
    await p.settle();
    const ctx = { ...alice, commandId: 'create-once-42' };
    const [a, b] = await Promise.all([
      p.commands.instances.create({ name: 'once', imageId, specId }, ctx),
      p.commands.instances.create({ name: 'once', imageId, specId }, ctx),
    ]);
    expect(a.id).toBe(b.id);
    await p.settle();
    const { rows } = await p.pool.query(`SELECT count(*)::int AS n FROM rm.instances WHERE owner_id = $1`, [
      alice.actor.userId,
    ]);
    expect(rows[0].n).toBe(1);
    expect(await getInstance(p.pool, a.id)).toMatchObject({
      name: 'once',
      desired: 'running',
      observed: 'creating',
    });
  });

  it('a retried create answers with its instance even when the node is full now; command ids are per user', async () => {
    const p = platform();
    const alice = await signUp(p, 'kalice');
    const bob = await signUp(p, 'kbob');
    const nodeId = await connectedNode(p, { name: 'one-gpu', gpuCount: 1 });
    const imageId = await image(p, { name: 'img-k', address: 'busybox' });
    const specId = await spec(p, {
      name: 'k-g1',
      gpuModel: 'RTX 4090',
      gpuCount: 1,
      vramGb: 24,
      cpuCores: 1,
      memoryGb: 1,
      systemDiskGb: 1,
      pricePerHour: 1,
    });
    const first = await p.commands.instances.create(
      { name: 'only', imageId, specId, nodeId },
      { ...alice, commandId: 'k-1' },
    );
    const retried = await p.commands.instances.create(
      { name: 'only', imageId, specId, nodeId },
      { ...alice, commandId: 'k-1' },
    );
    expect(retried).toEqual({ ...first, version: retried.version });
    expect(retried).toMatchObject({ nodeId, allocation: { gpus: { kind: 'whole', indices: [0] } } });
    // The same id from bob is bob's own command: the card is taken.
    expect(
      await code(
        p.commands.instances.create({ name: 'only', imageId, specId, nodeId }, { ...bob, commandId: 'k-1' }),
      ),
    ).toBe('no_capacity');
  });

  it('lists candidates for a spec with why each other node was passed over', async () => {
    const p = platform();
    await connectedNode(p, { name: 'cand-ok', gpuModel: 'L40S', gpuCount: 2, vramGbPerGpu: 48 });
    await connectedNode(p, {
      name: 'cand-small',
      gpuModel: 'L40S',
      gpuCount: 2,
      vramGbPerGpu: 48,
      memoryGb: 8,
    });
    await p.commands.nodes.register(gpuNode({ name: 'cand-down', gpuModel: 'L40S' }), system);
    const specId = await spec(p, {
      name: 'L40S ×2',
      gpuModel: 'l40s',
      gpuCount: 2,
      vramGb: 48,
      cpuCores: 8,
      memoryGb: 64,
      systemDiskGb: 50,
      pricePerHour: 6,
    });
    await p.settle();
    const { candidates, rejected } = await p.commands.instances.candidates(specId, system);
    expect(candidates.map((c) => c.name)).toEqual(['cand-ok']);
    expect(rejected.find((r) => r.name === 'cand-small')!.reasons).toEqual([
      '8 GB memory free, the spec needs 64',
    ]);
    expect(rejected.find((r) => r.name === 'cand-down')!.reasons).toContain('Docker is unknown');
  });
});
