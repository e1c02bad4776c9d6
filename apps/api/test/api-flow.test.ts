import type { Duplex } from 'node:stream';
import { loadTestNodes } from '@tianqi/infra';
import type { TRPCClientError } from '@trpc/client';
import Docker from 'dockerode';
import { beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import type { AppRouter } from '../src/api/router.js';
import { execCapture } from '../src/docker/exec.js';
import { type ApiFixture, useApi } from './api-fixture.js';
import { until } from './docker-fixture.js';
import { createApiClient } from './support/api-client.js';

const api = useApi();
const testNodes = loadTestNodes();
const plain = testNodes.nodes[1]!; // plain TCP
let alice: Awaited<ReturnType<ApiFixture['user']>>;
let bob: Awaited<ReturnType<ApiFixture['user']>>;
let imageId: string;
let specId: string;

beforeAll(async () => {
  const a = api();
  await a.admin.nodes.register.mutate({
    name: 'flow-node',
    cpuCores: 8,
    memoryGb: 16,
    systemDiskGb: 100,
    dockerAddress: `tcp://${plain.host}:${plain.port}`,
    useTls: false,
  });
  imageId = (await a.admin.images.create.mutate({ name: 'busybox', address: testNodes.images.sh })).id;
  specId = (
    await a.admin.specs.create.mutate({
      name: 'cpu-small',
      gpuCount: 0,
      cpuCores: 0.5,
      memoryGb: 0.5,
      systemDiskGb: 1,
      pricePerHour: 0.5,
    })
  ).id;
  alice = await a.user('alice');
  bob = await a.user('bob');
  // Registering tests the connection in the background: wait until the node is seen connected.
  await until(
    'the node to be connected',
    async () => (await a.admin.nodes.list.query())[0]?.dockerStatus === 'connected',
  );
});

/** A shell prompt at the end of the output, maybe followed by terminal control sequences. */
const PROMPT = new RegExp(`[#$] (${String.fromCharCode(27)}\\[[0-9;]*[A-Za-z])*$`);

/** Opens the terminal WebSocket; resolves once open, with what it has received so far. */
function terminal(
  url: string,
  token: string,
  instanceId: string,
  headers: Record<string, string> = {},
  query = 'cols=90&rows=30',
) {
  const ws = new WebSocket(`${url.replace('http', 'ws')}/api/instances/${instanceId}/terminal?${query}`, {
    headers: { authorization: `Bearer ${token}`, ...headers },
  });
  let output = '';
  const texts: string[] = [];
  ws.on('message', (data: Buffer, binary: boolean) => {
    if (binary) {
      output += data.toString('utf8');
      // Answer "where is the cursor?" as a terminal does: busybox's line editor waits for it.
      if (data.includes('\x1b[6n')) ws.send(Buffer.from('\x1b[1;1R'), { binary: true });
    } else texts.push(data.toString('utf8'));
  });
  const closed = new Promise<{ code: number; reason: string }>((resolve) =>
    ws.on('close', (code, reason) => resolve({ code, reason: reason.toString() })),
  );
  const opened = new Promise<void>((resolve, reject) => {
    ws.on('open', () => resolve());
    ws.on('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    ws.on('error', reject);
  });
  return {
    ws,
    opened,
    closed,
    texts,
    output: () => output,
    type: (s: string) => ws.send(Buffer.from(s), { binary: true }),
    /** A person types once they see the prompt. */
    prompt: () =>
      until('the shell prompt', async () => PROMPT.test(output), 15_000).catch((err) => {
        throw new Error(`${(err as Error).message}; it showed ${JSON.stringify(output)}`);
      }),
    /** Waits for a whole output line equal to `line` (the typed command's echo does not count). */
    lineSeen: (line: string) =>
      until(
        `"${line}" in the terminal`,
        async () => output.split(/\r?\n/).some((l) => l.trim() === line),
        15_000,
      ).catch((err) => {
        throw new Error(
          `${(err as Error).message}; it showed ${JSON.stringify(output)} ${JSON.stringify(texts)}`,
        );
      }),
  };
}

describe('the whole flow through the HTTP API, on a real Docker node', () => {
  let instanceId: string;
  let containerId: string;

  it('a user creates an instance and watches it reach running through the subscription', async () => {
    const created = await alice.client.instances.create.mutate({ name: 'flow-one', imageId, specId });
    instanceId = created.id;
    expect(created.version).toBeGreaterThan(0);
    // The list answers with it at once (the mutation waited for the read models).
    expect((await alice.client.instances.list.query()).items.map((i) => i.name)).toEqual(['flow-one']);
    // The admin's list of accounts counts it as alice's.
    const counts = async () =>
      Object.fromEntries((await api().admin.users.list.query()).map((u) => [u.username, u.instanceCount]));
    expect(await counts()).toMatchObject({ alice: 1, bob: 0 });
    const controller = new AbortController();
    const seen: string[] = [];
    for await (const event of alice.client.instances.watch.subscribe(
      { instanceId },
      { signal: controller.signal },
    )) {
      seen.push(event.data.observed);
      if (event.data.observed === 'running') {
        containerId = event.data.containerId!;
        controller.abort();
      }
    }
    expect(seen.at(-1)).toBe('running');
    expect(containerId).toMatch(/^[0-9a-f]{64}$/);
  });

  it("counts it in the admin's fleet overview, whose watch follows a change without being asked again", async () => {
    const admin = api().admin;
    const overview = await admin.fleet.overview.query();
    expect(overview).toMatchObject({
      nodes: { total: 1, byStatus: { connected: 1 } },
      gpus: [],
      instances: { total: 1, byDesired: { running: 1 }, byObserved: { running: 1 }, settling: 0 },
      openDrift: 0,
    });
    expect(overview.projectionLagSeconds).toBeLessThan(5);
    const controller = new AbortController();
    const seen: number[] = [];
    const watching = (async () => {
      for await (const event of admin.fleet.watch.subscribe(undefined, { signal: controller.signal })) {
        seen.push(event.data.nodes.total);
        if (event.data.nodes.total === 2) controller.abort();
      }
    })();
    await until('the first overview', async () => seen.length > 0);
    const { id } = await admin.nodes.register.mutate({
      name: 'flow-spare',
      cpuCores: 1,
      memoryGb: 1,
      systemDiskGb: 1,
      dockerAddress: 'tcp://127.0.0.99:2375',
      useTls: false,
      listed: false,
    });
    await watching;
    expect(seen).toEqual([1, 2]);
    await admin.nodes.delete.mutate({ nodeId: id });
  });

  it('follows the container output, picks up after a reconnect without repeating a line, and reads the tail', async () => {
    // What the container's own shell prints is its log: type into it through Docker.
    const docker = new Docker({ host: plain.host, port: plain.port, protocol: 'http' });
    const attached = await docker
      .getContainer(containerId)
      .attach({ stream: true, stdin: true, stdout: false, stderr: false, hijack: true });
    const say = (text: string) => attached.write(`echo ${text}\n`);
    const follow = async (lastEventId: string | null, until: string) => {
      const controller = new AbortController();
      const lines: { id: string; text: string }[] = [];
      const done = (async () => {
        for await (const e of alice.client.instances.followLogs.subscribe(
          { instanceId, tail: 0, lastEventId },
          { signal: controller.signal },
        )) {
          lines.push({ id: e.id, text: e.data.text });
          if (e.data.text.trim() === until) controller.abort();
        }
      })();
      return { lines, done };
    };
    const first = await follow(null, 'one-日本語');
    await new Promise((r) => setTimeout(r, 300)); // the follow request is open
    say('one-日本語');
    await first.done;
    const lastId = first.lines.at(-1)!.id;
    say('two');
    await new Promise((r) => setTimeout(r, 1_100)); // a line written while no one follows
    const second = await follow(lastId, 'three');
    say('three');
    await second.done;
    const texts = second.lines.map((l) => l.text.trim());
    expect(texts).toContain('two');
    expect(texts).not.toContain('one-日本語');
    const tail = await alice.client.instances.logs.query({ instanceId, tail: 50, timestamps: true });
    expect(tail.lines.map((l) => l.text.trim())).toEqual(
      expect.arrayContaining(['one-日本語', 'two', 'three']),
    );
    expect(tail.lines.every((l) => l.stream === 'stdout' && l.time !== null)).toBe(true);
    (attached as unknown as Duplex).destroy();
  });

  it('reads live stats of the running container', async () => {
    const controller = new AbortController();
    for await (const e of alice.client.instances.liveStats.subscribe(
      { instanceId },
      { signal: controller.signal },
    )) {
      expect(e.data.memoryUsedBytes).toBeGreaterThan(0);
      expect(e.data.memoryLimitBytes).toBe(512 * 1024 ** 2);
      expect(e.data.pids).toBeGreaterThan(0);
      controller.abort();
    }
    expect((await alice.client.instances.stats.query({ instanceId })).latest).not.toBeNull();
  });

  it('watches and live stats end with their session: signed out or disabled, on another server too', async () => {
    const a = api();
    const other = await a.secondServer();
    /** Consumes a subscription in the background: what it yielded, and whether it has ended. */
    const follow = <T>(stream: AsyncIterable<T>) => {
      const got: T[] = [];
      const done = (async () => {
        for await (const item of stream) got.push(item);
      })().then(
        () => 'ended' as const,
        (err: Error) => `failed: ${err.message}`,
      );
      return { got, done };
    };
    const within = <T>(p: Promise<T>, ms: number) =>
      Promise.race([p, new Promise<'still open'>((r) => setTimeout(() => r('still open'), ms))]);
    try {
      // Alice, a second session of hers, watching through the other server.
      const session = await a.login('alice', 'alice-password');
      const onOther = createApiClient(other.url, session.token);
      const controller = new AbortController();
      const watch = follow(onOther.instances.watch.subscribe({}, { signal: controller.signal }));
      const stats = follow(
        onOther.instances.liveStats.subscribe({ instanceId }, { signal: controller.signal }),
      );
      await until('the watch and a sample', async () => watch.got.length > 0 && stats.got.length > 0);
      await session.client.auth.logout.mutate(); // on the first server
      // Ended as a refusal, not as a stream that is over: the client signs in again.
      expect(await within(watch.done, 5_000)).toMatch(/^failed: the session ended; sign in again/);
      expect(await within(stats.done, 5_000)).toMatch(/^failed: the session ended; sign in again/);
      controller.abort();

      // A disabled user's open watch ends too.
      const dora = await a.user('dora');
      const doraOnOther = createApiClient(other.url, dora.token);
      const forDora = new AbortController();
      const dorasWatch = follow(doraOnOther.instances.watch.subscribe({}, { signal: forDora.signal }));
      // Open (she has no instances, so nothing comes): still open a moment later.
      expect(await within(dorasWatch.done, 500)).toBe('still open');
      // Her own password change keeps the session it was made in, and so its stream.
      await dora.client.auth.changePassword.mutate({
        currentPassword: 'dora-password',
        newPassword: 'dora-password-2',
      });
      expect(await within(dorasWatch.done, 1_000)).toBe('still open');
      await a.admin.users.disable.mutate({ userId: dora.userId });
      expect(await within(dorasWatch.done, 5_000)).toMatch(/^failed: the session ended/);
      forDora.abort();
    } finally {
      await other.close();
    }
  });

  it('opens a terminal: echo hi, stty size at the asked size and after a resize, exit ends the socket cleanly and is recorded', async () => {
    const a = api();
    const t = terminal(a.url, alice.token, instanceId);
    await t.opened;
    await t.prompt();
    t.type('echo hi\n');
    await t.lineSeen('hi');
    // The container's own environment: a CPU-only instance's NVIDIA_VISIBLE_DEVICES is void.
    t.type('echo "gpus=$NVIDIA_VISIBLE_DEVICES."\n');
    await t.lineSeen('gpus=void.');
    t.type('stty size\n');
    await t.lineSeen('30 90');
    t.ws.send(JSON.stringify({ type: 'resize', cols: 120, rows: 40 }));
    await new Promise((r) => setTimeout(r, 200));
    t.type('stty size\n');
    await t.lineSeen('40 120');
    t.type('exit 0\n');
    const closed = await t.closed;
    expect(closed.code).toBe(1000);
    expect(t.texts.map((x) => JSON.parse(x))).toContainEqual({ type: 'exit', code: 0 });
    const history = await until('the terminal session in the history', async () => {
      const h = await alice.client.instances.history.query({ instanceId });
      return h.some((e) => e.type === 'TerminalSessionEnded') ? h : null;
    });
    const session = history.find((e) => e.type === 'TerminalSessionEnded')!;
    expect(session.actorName).toBe('alice');
    expect(session.actorIp).toBe('127.0.0.1');
    // And recorded: what was typed and what was shown.
    const [recording] = await alice.client.instances.recordings.query({ instanceId });
    const { cast } = await alice.client.instances.recording.query({
      instanceId,
      recordingId: recording!.recordingId,
    });
    expect(cast).toContain('"i","echo hi');
    expect(cast).toContain('"r","120x40"');
    // Signed in with a bearer token, as the CLI is (a browser's cookie makes it a web terminal session).
    expect(session.summary).toMatch(/^CLI shell session from 127\.0\.0\.1, \d+ s$/);
  });

  it("lists everyone's recordings for an admin, across instances, and plays one back", async () => {
    const a = api();
    const all = await a.admin.audit.recordings.query();
    const mine = all.find((r) => r.instanceId === instanceId && r.username === 'alice')!;
    expect(mine.instanceName).toBeTruthy();
    expect(all.map((r) => +r.startedAt)).toEqual([...all.map((r) => +r.startedAt)].sort((x, y) => y - x));
    expect(await a.admin.audit.recordings.query({ userId: bob.userId })).toEqual([]);
    // Paged by the last one shown: the page after it starts with the next, one at a time to the end.
    const paged = [];
    for (let page = await a.admin.audit.recordings.query({ limit: 1 }); page.length > 0; ) {
      paged.push(...page);
      page = await a.admin.audit.recordings.query({ limit: 1, after: page[0]!.recordingId });
    }
    expect(paged.map((r) => r.recordingId)).toEqual(all.map((r) => r.recordingId));
    const { cast } = await a.admin.instances.recording.query({ instanceId, recordingId: mine.recordingId });
    expect(cast).toContain('"i","echo hi');
    await expect(alice.client.audit.recordings.query()).rejects.toThrow(/admin/i);
  });

  it('closing the socket hangs the shell up instead of leaving it running', async () => {
    const a = api();
    const t = terminal(a.url, alice.token, instanceId);
    await t.opened;
    await t.prompt();
    t.type('echo $$ > /tmp/shell.pid\n');
    await new Promise((r) => setTimeout(r, 300));
    t.ws.close();
    await t.closed;
    const docker = new Docker({ host: plain.host, port: plain.port, protocol: 'http' });
    const pid = (await execCapture(docker, containerId, ['cat', '/tmp/shell.pid'])).stdout.trim();
    expect(pid).toMatch(/^\d+$/);
    // `kill -0` fails once no such process is left in the container.
    await until(
      'the shell to be gone',
      async () => (await execCapture(docker, containerId, ['kill', '-0', pid])).exitCode !== 0,
    );
  });

  it('a terminal ends when its session is signed out', async () => {
    const a = api();
    const second = await a.login('alice', 'alice-password');
    const t = terminal(a.url, second.token, instanceId);
    await t.opened;
    await t.prompt();
    await second.client.auth.logout.mutate();
    expect((await t.closed).code).toBe(4401);
  });

  it('a user told there is no room is not told about the nodes; an admin is', async () => {
    const cpuSpec = async (name: string, cpuCores: number, systemDiskGb: number) =>
      (
        await api().admin.specs.create.mutate({
          name,
          gpuCount: 0,
          cpuCores,
          memoryGb: 1,
          systemDiskGb,
          pricePerHour: 9,
        })
      ).id;
    const huge = await cpuSpec('cpu-huge', 64, 1);
    const asUser = await bob.client.instances.create
      .mutate({ name: 'too-big', imageId, specId: huge })
      .catch((e: Error) => e);
    // No node has 64 cores: waiting will not help, and the user is told so.
    expect((asUser as Error).message).toBe(
      'no node offers this spec (its GPUs, memory or disks, or GPU slicing): it cannot be created until an admin adds such a node; choose another spec',
    );
    expect((asUser as TRPCClientError<AppRouter>).data).toMatchObject({
      tianqiCode: 'no_capacity',
      details: { shortfall: 'unsupported' },
    });
    const asAdmin = await api()
      .admin.instances.create.mutate({ name: 'too-big', imageId, specId: huge })
      .catch((e: Error) => e);
    expect((asAdmin as Error).message).toMatch(/^no node offers spec cpu-huge \(flow-node: .*CPU/);
    // The node's whole system disk: it offers that, but the running instance holds 1 GB of it now.
    const whole = await cpuSpec('cpu-whole-disk', 1, 100);
    const full = await bob.client.instances.create
      .mutate({ name: 'too-big', imageId, specId: whole })
      .catch((e: TRPCClientError<AppRouter>) => e);
    expect((full as Error).message).toBe(
      'every node that offers this spec is full or unreachable now; try again later or choose another spec',
    );
    expect((full as TRPCClientError<AppRouter>).data).toMatchObject({ details: { shortfall: 'busy' } });
    expect(JSON.stringify((full as TRPCClientError<AppRouter>).data)).not.toContain('flow-node');
  });

  it('refuses a terminal to another user (404), to no one signed in (401) and from a foreign Origin (403)', async () => {
    const a = api();
    await expect(terminal(a.url, bob.token, instanceId).opened).rejects.toThrow('HTTP 404');
    await expect(
      terminal(a.url, 'tq_not-a-real-token-000000000000000000000000000', instanceId).opened,
    ).rejects.toThrow('HTTP 401');
    await expect(
      terminal(a.url, alice.token, instanceId, { origin: 'http://evil.example' }).opened,
    ).rejects.toThrow('HTTP 403');
    await expect(terminal(a.url, alice.token, instanceId, {}, 'cols=1&rows=1').opened).rejects.toThrow(
      'HTTP 400',
    );
  });

  it('deletes it; the history shows who asked and the container and volume going, and its past state is still there', async () => {
    const runningAt = new Date();
    await alice.client.instances.delete.mutate({ instanceId });
    const history = await until('the container to be removed', async () => {
      const h = await alice.client.instances.history.query({ instanceId });
      return h.some((e) => e.type === 'VolumesRemoved') ? h : null;
    });
    const types = history.map((e) => e.type);
    expect(types).toEqual(
      expect.arrayContaining([
        'InstanceCreated',
        'ContainerCreated',
        'ContainerStarted',
        'InstanceDeleteRequested',
        'ContainerRemoved',
        'AllocationReleased',
      ]),
    );
    expect(history.find((e) => e.type === 'InstanceDeleteRequested')!.actorName).toBe('alice');
    const before = await alice.client.instances.at.query({ instanceId, time: runningAt });
    expect(before.state.observed).toBe('running');
    // Gone from the list, and another user never saw it.
    expect((await alice.client.instances.list.query()).items).toEqual([]);
    expect((await api().admin.users.list.query()).find((u) => u.username === 'alice')!.instanceCount).toBe(0);
    await expect(bob.client.instances.history.query({ instanceId })).rejects.toThrow(/no instance/);
  });
});
