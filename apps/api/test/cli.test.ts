import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtemp, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dockerOverTcp, loadTestNodes } from '@tianqi/infra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LABEL_INSTANCE } from '../src/docker/labels.js';
import { ADMIN, useApi } from './api-fixture.js';

// The real `tianqi` binary (apps/cli, compiled: `npm run build` first, as `npm test` does) against a
// whole platform in this process, with the plain-TCP Docker test node. It lives here, beside the
// platform's fixture, since the CLI stands on the server's type and not the other way round.
const BIN = fileURLToPath(new URL('../../cli/bin/tianqi.js', import.meta.url));
const api = useApi();
const testNodes = loadTestNodes();
const node2 = testNodes.nodes.find((n) => n.name === 'node2')!;
const LEAKY = [
  'TIANQI_TOKEN',
  'TIANQI_PASSWORD',
  'TIANQI_NEW_PASSWORD',
  'TIANQI_USERNAME',
  'COLUMNS',
  'LINES',
];
let adminHome: string;
let userHome: string;
let instanceId = '';
/** Instances other tests made, removed from the node at the end whatever happened. */
const extra: string[] = [];

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}
type Options = { input?: string; env?: Record<string, string> };

/** One `tianqi` process (a command line without quoting) with its own config folder and no outer session. */
function start(home: string, command: string, env: Record<string, string> = {}): ChildProcess {
  const base = { ...process.env };
  for (const k of LEAKY) delete base[k];
  return spawn(process.execPath, [BIN, ...command.split(/\s+/)], {
    env: { ...base, XDG_CONFIG_HOME: home, TIANQI_SERVER: api().url, ...env },
    stdio: 'pipe',
  });
}

function tianqi(home: string, command: string, opts: Options = {}): Promise<Run> {
  const child = start(home, command, opts.env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => (stdout += d));
  child.stderr!.on('data', (d) => (stderr += d));
  child.stdin!.end(opts.input ?? '');
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

/** Runs a command that must succeed, and returns what it printed. */
async function ok(home: string, command: string, opts: Options = {}): Promise<string> {
  const run = await tianqi(home, command, opts);
  if (run.code !== 0) throw new Error(`tianqi ${command} exited ${run.code}:\n${run.stderr}${run.stdout}`);
  return run.stdout;
}

const json = async (home: string, command: string) => JSON.parse(await ok(home, `${command} --json`));

async function eventually(what: string, probe: () => boolean, ms = 15_000): Promise<void> {
  for (const deadline = Date.now() + ms; !probe(); await new Promise((r) => setTimeout(r, 100))) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
  }
}

beforeAll(async () => {
  adminHome = await mkdtemp(join(tmpdir(), 'tianqi-cli-admin-'));
  userHome = await mkdtemp(join(tmpdir(), 'tianqi-cli-user-'));
});
afterAll(async () => {
  // A failed run must not leave a container on the shared test node.
  const docker = dockerOverTcp(node2);
  for (const id of [instanceId, ...extra].filter(Boolean)) {
    const label = `${LABEL_INSTANCE}=${id}`;
    for (const c of await docker.listContainers({ all: true, filters: { label: [label] } })) {
      await docker.getContainer(c.Id).remove({ force: true, v: true });
    }
  }
  await rm(adminHome, { recursive: true, force: true });
  await rm(userHome, { recursive: true, force: true });
});

describe('the tianqi CLI against a running server', () => {
  it('an admin signs in and registers a node, an image, a CPU-only spec and a user', async () => {
    const login = await ok(adminHome, `login --username ${ADMIN.username}`, { input: `${ADMIN.password}\n` });
    expect(login).toMatch(/signed in to .* as admin \(admin\)/);
    const docker = `--docker-address tcp://${node2.host}:${node2.port} --no-tls`;
    // The answer carries the connection check, and the list right after it shows the same.
    const added = await ok(
      adminHome,
      `node add node2 ${docker} --cpu-cores 4 --memory-gb 8 --system-disk-gb 50`,
    );
    expect(added).toMatch(/^node node2 added \(\w+\); Docker connected \(Docker \d[\w.+~-]*\)\n$/);
    const nodeId = /\((\w+)\)/.exec(added)![1]!;
    expect(await ok(adminHome, 'node list')).toMatch(new RegExp(`node2\\s+${nodeId}\\s+-\\s+connected`));
    expect(await ok(adminHome, 'node check node2')).toBe('node2: connected\n');
    // A node that cannot be reached is registered, and the answer says why at once.
    const down = await ok(
      adminHome,
      `node add down-node --docker-address tcp://127.0.0.1:1 --no-tls --cpu-cores 1 --memory-gb 1 --system-disk-gb 1`,
    );
    expect(down).toMatch(/^node down-node added \(\w+\); Docker connection failed: connection refused/);
    expect(await ok(adminHome, 'node list')).toMatch(/down-node\s+\w+\s+-\s+failed/);
    await ok(adminHome, 'node remove down-node');
    await ok(adminHome, `image add busybox --address ${testNodes.images.sh}`);
    const cpuOnly = '--gpu-count 0 --cpu-cores 0.5 --memory-gb 0.5 --system-disk-gb 1 --price-per-hour 0.1';
    await ok(adminHome, `spec add cpu-small ${cpuOnly}`);
    expect(await ok(adminHome, 'user add alice', { input: 'alice-password\n' })).toMatch(/user alice added/);
    const users: { username: string }[] = await json(adminHome, 'user list');
    expect(users.map((u) => u.username).sort()).toEqual(['admin', 'alice']);
  });

  it('a user signs in with the password on stdin, and the saved session is readable by them only', async () => {
    expect(await ok(userHome, 'login -u alice', { input: 'alice-password\n' })).toMatch(/as alice \(user\)/);
    expect((await stat(join(userHome, 'tianqi', 'credentials.json'))).mode & 0o777).toBe(0o600);
    expect((await stat(join(userHome, 'tianqi'))).mode & 0o777).toBe(0o700);
    expect(await ok(userHome, 'whoami')).toMatch(/^alice \(user\) at http:\/\/127\.0\.0\.1:\d+/);
  });

  it('creates an instance from names, waits until it runs, and lists it', async () => {
    const created = await ok(userHome, 'instance create box --image busybox --spec cpu-small --node node2');
    expect(created).toMatch(/^created instance box \([a-z0-9]+\) on node node2$/m);
    instanceId = /\(([a-z0-9]+)\)/.exec(created)![1]!;
    await ok(userHome, 'instance wait box --state running --timeout 60');
    const list = await ok(userHome, 'instance list');
    expect(list.split('\n')[0]).toMatch(/^NAME\s+ID\s+STATE\s+NODE\s+SPEC\s+IMAGE\s+CREATED$/);
    expect(list).toMatch(
      new RegExp(`box\\s+${instanceId}\\s+running/running\\s+node2\\s+cpu-small\\s+busybox`),
    );
    const page: { items: { instanceId: string }[] } = await json(userHome, 'instance list');
    expect(page.items.map((i) => i.instanceId)).toEqual([instanceId]);
    expect((await json(userHome, `instance show ${instanceId}`)).name).toBe('box');
  });

  it('`instance shell` runs piped input in a TTY of $LINES×$COLUMNS and exits with the shell’s code', async () => {
    const input =
      'echo from-the-shell > /proc/1/fd/1\necho hi\nstty size\necho "gpus=$NVIDIA_VISIBLE_DEVICES."\nexit 3\n';
    const run = await tianqi(userHome, 'instance shell box', { input, env: { COLUMNS: '132', LINES: '40' } });
    expect(run.stderr).toBe('');
    expect(run.stdout).toMatch(/^hi\r?$/m); // the output, not the echo of "echo hi"
    expect(run.stdout).toMatch(/^40 132\r?$/m);
    // The container's own environment reaches the shell: a CPU-only instance's GPUs are void.
    expect(run.stdout).toMatch(/^gpus=void\.\r?$/m);
    expect(run.code).toBe(3);
  });

  it('`instance logs` shows the container’s output, and `-f` follows new lines until interrupted', async () => {
    // What PID 1 (the image's `sh`, on the container's TTY) writes is the container's output.
    expect(await ok(userHome, 'instance logs box --tail 50')).toContain('from-the-shell');
    const { lines } = await json(userHome, 'instance logs box --timestamps');
    expect(lines).toContainEqual(
      expect.objectContaining({ time: expect.any(String), text: expect.stringContaining('from-the-shell') }),
    );

    const follower = start(userHome, 'instance logs box -f --tail 5');
    let followed = '';
    follower.stdout!.on('data', (d) => (followed += d));
    const exited = new Promise<number | null>((resolve) => follower.on('close', resolve));
    await eventually('the old line', () => followed.includes('from-the-shell'));
    await ok(userHome, 'instance shell box', { input: 'echo followed-line > /proc/1/fd/1\nexit\n' });
    await eventually('the new line', () => followed.includes('followed-line'));
    follower.kill('SIGINT');
    expect(await exited).toBe(0);
  });

  it('`instance stats --json` prints the sample the sync took', async () => {
    expect(await ok(adminHome, 'drift sync')).toMatch(/synced 1 node/);
    const stats = await json(userHome, 'instance stats box');
    expect(stats.latest.memoryUsedBytes).toBeGreaterThan(0);
    expect(stats.latest.memoryLimitBytes).toBe(512 * 1024 ** 2);
    expect(Array.isArray(stats.series)).toBe(true);
  });

  it('shows what users wrote with its control characters made visible; --json keeps it exact', async () => {
    const hostile = 'ok\u001b]0;pwned\u0007\u001b[2J\r\u202eevil';
    const alice = await api().login('alice', 'alice-password');
    const images = await alice.client.images.list.query();
    const specs = await alice.client.specs.list.query();
    const made = await alice.client.instances.create.mutate({
      name: 'esc',
      imageId: images[0]!.imageId,
      specId: specs[0]!.specId,
      remark: hostile,
    });
    extra.push(made.id);
    try {
      const shown = await ok(adminHome, `instance show ${made.id}`);
      // biome-ignore lint/suspicious/noControlCharactersInRegex: no control character may be left
      expect(shown).not.toMatch(/[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202e]/);
      expect(shown).toContain('ok\\x1b]0;pwned\\x07\\x1b[2J\\r\\u202eevil');
      expect((await json(adminHome, `instance show ${made.id}`)).remark).toBe(hostile);
    } finally {
      await alice.client.instances.delete.mutate({ instanceId: made.id });
      await ok(adminHome, `instance wait ${made.id} --state removed --timeout 60`);
    }
  });

  it('exits 2 on a bad command and 1 with the server’s message when the server refuses', async () => {
    for (const command of ['instance frob', 'instance list --bogus', 'instance logs', 'frob']) {
      const run = await tianqi(userHome, command);
      expect(run.code, command).toBe(2);
      expect(run.stderr).toMatch(/^tianqi: /);
    }
    const unknownSpec = await tianqi(userHome, 'instance create x --image busybox --spec zzzzzzzzzzzz');
    expect(unknownSpec).toMatchObject({ code: 1, stderr: 'tianqi: no spec zzzzzzzzzzzz\n' });
    expect(await tianqi(userHome, 'user list')).toMatchObject({ code: 1, stderr: 'tianqi: admins only\n' });
  });

  it('deleting removes the container, and the history records both', async () => {
    expect(await ok(userHome, 'instance delete box')).toBe(`delete requested for box (${instanceId})\n`);
    await ok(userHome, 'instance wait box --state removed --timeout 60');
    const history: { type: string; actorName: string | null }[] = await json(
      userHome,
      'instance history box',
    );
    const types = history.map((e) => e.type);
    expect(history.find((e) => e.type === 'InstanceDeleteRequested')?.actorName).toBe('alice');
    expect(types.indexOf('ContainerRemoved')).toBeGreaterThan(types.indexOf('InstanceDeleteRequested'));
    // The table shows where each request came from, as --json does.
    expect(await ok(userHome, 'instance history box')).toMatch(/^TIME\s+EVENT\s+BY\s+FROM\s+SUMMARY$/m);
    expect(await ok(userHome, 'instance history box')).toMatch(
      /InstanceDeleteRequested\s+alice\s+127\.0\.0\.1\s/,
    );
    const csv = await ok(adminHome, `audit export --format csv --instance ${instanceId}`);
    expect(csv.split('\r\n')[0]).toMatch(/^recordedAt,position,type/);
    expect(csv).toContain('ContainerRemoved');
  });

  it('after logout the session is gone here and on the server: whoami exits 3', async () => {
    const file = join(userHome, 'tianqi', 'credentials.json');
    const { token } = JSON.parse(await readFile(file, 'utf8'));
    expect(await ok(userHome, 'logout')).toBe('signed out\n');
    await expect(stat(file)).rejects.toThrow(/ENOENT/);
    expect(await tianqi(userHome, 'whoami')).toMatchObject({
      code: 3,
      stderr: expect.stringMatching(/not signed in/),
    });
    const revoked = await tianqi(userHome, 'whoami', { env: { TIANQI_TOKEN: token } });
    expect(revoked).toMatchObject({ code: 3, stderr: expect.stringMatching(/session has ended/) });
  });
});
