import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { connect } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Duplex } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { freePort, loadTestNodes } from '@tianqi/infra';
import Docker from 'dockerode';
import ssh2 from 'ssh2';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Jumpbox } from '../src/jumpbox/jumpbox.js';
import { type ApiFixture, openApi } from './api-fixture.js';
import { execIn, until } from './docker-fixture.js';
import { cpuCatalog } from './support/cpu-catalog.js';

/** Debian's real OpenSSH client (with sshpass for the password) against the jumpbox and real containers. */
const plain = loadTestNodes().nodes[1]!;
const images = loadTestNodes().images;
const DRIVE = fileURLToPath(new URL('./support/pty-drive.py', import.meta.url));
let api: ApiFixture;
let port: number;
const ids: Record<string, { id: string; containerId: string }> = {};

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
  ms: number;
}

function run(cmd: string, args: string[], input?: string | Buffer): Promise<Run> {
  const t0 = Date.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('close', (code) =>
      resolve({
        code,
        stdout: Buffer.concat(out).toString('latin1'),
        stderr: Buffer.concat(err).toString(),
        ms: Date.now() - t0,
      }),
    );
    child.stdin.end(input);
  });
}

const sshOptions = (p = port, logLevel = 'ERROR', auth = 'password') => [
  '-p',
  String(p),
  '-o',
  'StrictHostKeyChecking=no',
  '-o',
  'UserKnownHostsFile=/dev/null',
  '-o',
  `LogLevel=${logLevel}`,
  '-o',
  'NumberOfPasswordPrompts=1',
  '-o',
  `PreferredAuthentications=${auth}`,
];
/** `ssh` as `login` with `password`, running `command` (or nothing: the menu) with stdin `input`. */
const ssh = (login: string, password: string, command: string[] = [], input?: string | Buffer) =>
  run('sshpass', ['-p', password, 'ssh', ...sshOptions(), `${login}@127.0.0.1`, ...command], input);
/** An interactive session in a real pseudo-terminal of `rows`×`cols`, driven step by step. */
const drive = (
  login: string,
  password: string,
  rows: number,
  cols: number,
  steps: unknown[],
  command: string[] = [],
) =>
  // TERM as a terminal emulator sets it (the test's own may be unset): the container's tput reads it.
  run('env', [
    'TERM=xterm',
    'python3',
    DRIVE,
    JSON.stringify([{ size: [rows, cols] }, ...steps]),
    'sshpass',
    '-p',
    password,
    'ssh',
    '-tt',
    ...sshOptions(),
    `${login}@127.0.0.1`,
    ...command,
  ]);

/** `ssh login@… command` left running, for a test to watch and drive (the run helper waits for it). */
const sshSpawn = (login: string, password: string, command: string) =>
  spawn('sshpass', ['-p', password, 'ssh', ...sshOptions(), `${login}@127.0.0.1`, command]);

/** Whether a process whose command line holds `text` runs in the instance's container. */
async function runningIn(instance: string, text: string): Promise<boolean> {
  const docker = new Docker({ host: plain.host, port: plain.port });
  return (await execIn(docker, ids[instance]!.containerId, ['ps', '-o', 'args'])).includes(text);
}

/** Another jumpbox on the same platform (its data folder, so its host key), on a port of its own. */
async function secondJumpbox(idleMinutes: number) {
  const jumpbox = new Jumpbox(api.platform.services, {
    port: await freePort(),
    host: '127.0.0.1',
    hostKey: '',
    dataDir: api.platform.services.config['data-dir'],
    banner: '',
    idleMinutes,
  });
  const port = await jumpbox.start();
  return { port, stop: () => jumpbox.stop() };
}

beforeAll(async () => {
  port = await freePort();
  api = await openApi({
    jumpbox: { enabled: true, port, host: '127.0.0.1', banner: 'Welcome to Tianqi test jumpbox\r\n' },
    auth: { 'max-failures': 3, 'lockout-minutes': 1 },
  });
  const { imageId, specId } = await cpuCatalog(api.admin, {
    prefix: 'jump',
    dockerAddress: `tcp://${plain.host}:${plain.port}`,
    bashImage: images.bash,
  });
  const alice = await api.user('alice');
  const bob = await api.user('bob');
  for (const [owner, name] of [
    [alice, 'box1'],
    [alice, 'box2'],
    [bob, 'bobbox'],
  ] as const) {
    const { id } = await owner.client.instances.create.mutate({ name, imageId, specId });
    const row = await until(`${name} to run`, async () => {
      const r = await owner.client.instances.get.query({ instanceId: id });
      return r.observed === 'running' ? r : null;
    });
    ids[name] = { id, containerId: row.containerId! };
  }
  await alice.client.instances.stop.mutate({ instanceId: ids.box2!.id });
  await until(
    'box2 to stop',
    async () => (await alice.client.instances.get.query({ instanceId: ids.box2!.id })).observed === 'exited',
  );
}, 120_000);

afterAll(async () => {
  await api?.close();
});

describe('the SSH jumpbox, with the real ssh client', () => {
  it('a user sees a menu of exactly their instances, picks one, and is in its container; q leaves with 0', async () => {
    const r = await drive('alice', 'alice-password', 24, 80, [
      { expect: 'Choose an instance' },
      { send: '1\r' },
      { expect: '# ' },
      { send: 'echo "host=$HOSTNAME"\r' },
      { expect: 'host=' },
      { send: 'exit 0\r' },
    ]);
    expect(r.stdout).toContain(`box1-${ids.box1!.containerId.slice(0, 12)}-jump-node  (running)`);
    expect(r.stdout).toContain(`box2-${ids.box2!.containerId.slice(0, 12)}-jump-node  (exited)`);
    expect(r.stdout).not.toContain('bobbox');
    const hostname = (
      await new Docker({ host: plain.host, port: plain.port }).getContainer(ids.box1!.containerId).inspect()
    ).Config.Hostname;
    expect(r.stdout).toContain(`host=${hostname}`);
    expect(r.code).toBe(0);
    const quit = await drive('alice', 'alice-password', 24, 80, [
      { expect: 'Choose an instance' },
      { send: '9\r' },
      { expect: 'Type a number from 1 to 2' },
      { send: '2\r' },
      { expect: 'box2 is exited, not running' },
      { send: 'qx\x7f\r' },
    ]);
    expect(quit.stdout).toContain('Bye.');
    expect(quit.code).toBe(0);
  });

  it('an admin sees every instance with its owner', async () => {
    const r = await drive('admin', 'admin-password', 24, 80, [
      { expect: 'Choose an instance' },
      { send: 'q\r' },
    ]);
    for (const name of ['box1', 'box2', 'bobbox'])
      expect(r.stdout).toContain(`${name}-${ids[name]!.containerId.slice(0, 12)}-jump-node`);
    expect(r.stdout).toMatch(/bobbox-\w{12}-jump-node {2}\(running\) {2}bob/);
    expect(r.code).toBe(0);
  });

  it('the shell has the client terminal size, and follows a resize (stty size)', async () => {
    const r = await drive('alice+box1', 'alice-password', 30, 100, [
      { expect: '# ' },
      { send: 'stty size\r' },
      { expect: '30 100' },
      { resize: [40, 120] },
      { sleep: 0.3 },
      { send: 'stty size\r' },
      { expect: '40 120' },
      { send: 'exit 7\r' },
    ]);
    expect(r.code).toBe(7);
  });

  it('a command with a TTY sees the client terminal size from its first instruction, 20 times in a row', async () => {
    // `stty size` reads the TTY; `tput` is a curses program, as full-screen programs (vim, top) are.
    for (let i = 0; i < 20; i++) {
      const r = await drive(
        'alice+box1',
        'alice-password',
        37,
        101,
        [],
        ['stty size; tput cols; tput lines'],
      );
      expect(r.stdout).toBe('37 101\r\n101\r\n37\r\n');
      expect(r.code).toBe(0);
    }
  });

  it('a command with a TTY follows the client terminal when it is resized', async () => {
    const r = await drive(
      'alice+box1',
      'alice-password',
      24,
      80,
      [{ expect: 'go' }, { resize: [50, 132] }, { sleep: 0.3 }, { send: 'x\r' }],
      ['echo go; read x; stty size'],
    );
    expect(r.stdout).toContain('50 132');
    expect(r.code).toBe(0);
  });

  it('shells and commands of a CPU-only instance see NVIDIA_VISIBLE_DEVICES=void, as its first process does', async () => {
    expect(await ssh('alice+box1', 'alice-password', ['echo "gpus=$NVIDIA_VISIBLE_DEVICES"'])).toMatchObject({
      code: 0,
      stdout: 'gpus=void\n',
    });
    const r = await drive('alice+box1', 'alice-password', 24, 80, [
      { expect: '# ' },
      { send: 'echo "gpus=$NVIDIA_VISIBLE_DEVICES."\r' },
      { expect: 'gpus=void.' },
      { send: 'exit\r' },
    ]);
    expect(r.code).toBe(0);
  });

  it('shells and commands are in UTF-8, as in the web terminal: typed CJK is edited as characters', async () => {
    const r = await drive('alice+box1', 'alice-password', 24, 80, [
      { expect: '# ' },
      // One Backspace takes off the whole last 好 (three bytes), not one byte of it.
      { send: 'echo 你好好\x7f; echo "[$LANG]"\r' },
      { expect: '你好\r\n[C.UTF-8]\r\n' },
      { send: 'exit\r' },
    ]);
    expect(r.code).toBe(0);
    expect(await ssh('alice+box1', 'alice-password', [`x=你好; echo "\${#x} $LANG"`])).toMatchObject({
      code: 0,
      stdout: '2 C.UTF-8\n',
    });
  });

  it('a straight command returns its exit code and keeps stdout and stderr apart', async () => {
    const r = await ssh('alice+box1', 'alice-password', ['echo out; echo err >&2; exit 3']);
    expect(r).toMatchObject({ code: 3, stdout: 'out\n', stderr: 'err\n' });
  });

  it('runs the command line as typed, in bash when the container has it', async () => {
    const line = `printf '%s|' "a  b" 'c$HOME' "\${BASH_VERSION:+bash}"`;
    expect(await ssh('alice+box1', 'alice-password', [line])).toMatchObject({
      code: 0,
      stdout: 'a  b|c$HOME|bash|',
    });
  });

  it('copies 10 MB in through stdin and back out, byte for byte', async () => {
    const data = randomBytes(10 * 1024 * 1024);
    const put = await ssh('alice+box1', 'alice-password', ['cat > /data/blob.bin'], data);
    expect(put.code).toBe(0);
    expect((await ssh('alice+box1', 'alice-password', ['wc -c < /data/blob.bin'])).stdout.trim()).toBe(
      String(data.length),
    );
    const get = await run('sshpass', [
      '-p',
      'alice-password',
      'ssh',
      ...sshOptions(),
      'alice+box1@127.0.0.1',
      'cat /data/blob.bin',
    ]);
    expect(get.code).toBe(0);
    const got = Buffer.from(get.stdout, 'latin1');
    expect(got.length).toBe(data.length);
    expect(got.equals(data)).toBe(true);
  });

  it('keeps stdout and stderr whole when a slow client makes both wait for its window', async () => {
    const blob = randomBytes(3 * 1024 * 1024);
    expect((await ssh('alice+box1', 'alice-password', ['cat > /data/both.bin'], blob)).code).toBe(0);
    const child = sshSpawn('alice+box1', 'alice-password', 'cat /data/both.bin; cat /data/both.bin >&2');
    // Nothing read for a while: the client's window fills, and the server has to wait for it.
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const closed = new Promise<number | null>((resolve) => child.on('close', resolve));
    await new Promise((r) => setTimeout(r, 1500));
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    expect(await closed).toBe(0);
    expect([Buffer.concat(out).length, Buffer.concat(err).length]).toEqual([blob.length, blob.length]);
    expect(Buffer.concat(out).equals(blob)).toBe(true);
    expect(Buffer.concat(err).equals(blob)).toBe(true);
  });

  it('scp -O copies a 10 MB file in and back out through the jumpbox, byte for byte', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tianqi-scp-'));
    try {
      const data = randomBytes(10 * 1024 * 1024);
      await writeFile(join(dir, 'up.bin'), data);
      const scp = (from: string, to: string) =>
        run('sshpass', [
          '-p',
          'alice-password',
          'scp',
          '-O',
          ...sshOptions().map((o) => (o === '-p' ? '-P' : o)),
          from,
          to,
        ]);
      expect((await scp(join(dir, 'up.bin'), 'alice+box1@127.0.0.1:/data/')).code).toBe(0);
      expect((await scp('alice+box1@127.0.0.1:/data/up.bin', join(dir, 'down.bin'))).code).toBe(0);
      expect((await readFile(join(dir, 'down.bin'))).equals(data)).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("rsync -e 'ssh -p PORT' sends a tree in and back out through the jumpbox", async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tianqi-rsync-'));
    try {
      await mkdir(join(dir, 'up', 'nested'), { recursive: true });
      const big = randomBytes(3 * 1024 * 1024);
      await writeFile(join(dir, 'up', 'big.bin'), big);
      await writeFile(join(dir, 'up', 'nested', '名前.txt'), 'hello\n');
      const rsync = (from: string, to: string) =>
        run('sshpass', [
          '-p',
          'alice-password',
          'rsync',
          '-a',
          '-e',
          ['ssh', ...sshOptions()].join(' '),
          from,
          to,
        ]);
      const up = await rsync(`${join(dir, 'up')}/`, 'alice+box1@127.0.0.1:/data/tree/');
      expect(up).toMatchObject({ code: 0, stderr: '' });
      const down = await rsync('alice+box1@127.0.0.1:/data/tree/', `${join(dir, 'down')}/`);
      expect(down).toMatchObject({ code: 0, stderr: '' });
      expect((await readFile(join(dir, 'down', 'big.bin'))).equals(big)).toBe(true);
      expect(await readFile(join(dir, 'down', 'nested', '名前.txt'), 'utf8')).toBe('hello\n');
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("an SSH session into a GPU slice runs under the slice's HAMi limits, like the container itself", async () => {
    const tls = loadTestNodes().nodes[0]!;
    const hami = await mkdtemp(join(tmpdir(), 'tianqi-hami-'));
    await writeFile(join(hami, 'libvgpu.so'), ''); // the test nodes are local daemons: this is "on the node"
    const { id: nodeId } = await api.admin.nodes.register.mutate({
      name: 'jump-gpu',
      cpuCores: 8,
      memoryGb: 16,
      systemDiskGb: 100,
      gpuModel: 'RTX 4090',
      gpuCount: tls.gpuCount,
      vramGbPerGpu: 24,
      dockerAddress: `tcp://${tls.host}:${tls.port}`,
      useTls: true,
      caCert: tls.ca!,
      clientCert: tls.cert!,
      clientKey: tls.key!,
      hamiCoreDir: hami,
    });
    const imageId = (
      await api.admin.images.create.mutate({
        name: 'bash-sliced',
        address: images.bash,
        supportsSlicing: true,
      })
    ).id;
    const specId = (
      await api.admin.specs.create.mutate({
        name: 'slice-6',
        gpuModel: 'RTX 4090',
        gpuCount: 1,
        vramGb: 6,
        slice: true,
        cpuCores: 0.5,
        memoryGb: 0.5,
        systemDiskGb: 1,
        pricePerHour: 2,
      })
    ).id;
    await until(
      'the GPU node to be connected',
      async () => (await api.admin.nodes.get.query({ nodeId })).dockerStatus === 'connected',
    );
    const alice = await api.login('alice', 'alice-password');
    const created = await alice.client.instances.create.mutate({ name: 'sliced', imageId, specId, nodeId });
    const { id } = created;
    const gpus = (created.allocation.gpus as { indices: number[] }).indices.join(',');
    await until(
      'the slice to run',
      async () => (await alice.client.instances.get.query({ instanceId: id })).observed === 'running',
    );
    const r = await ssh('alice+sliced', 'alice-password', [
      'echo "$NVIDIA_VISIBLE_DEVICES $CUDA_DEVICE_MEMORY_LIMIT $CUDA_DEVICE_SM_LIMIT $LD_PRELOAD"; cat /etc/ld.so.preload',
    ]);
    expect(r).toMatchObject({
      code: 0,
      stdout: `${gpus} 6g 25 /libvgpu/build/libvgpu.so\n/libvgpu/build/libvgpu.so\n`,
    });
    // The interactive shell sees its GPUs too (Docker gives them to the first process only).
    const shell = await drive('alice+sliced', 'alice-password', 24, 80, [
      { expect: '# ' },
      { send: 'echo "gpus=$NVIDIA_VISIBLE_DEVICES."\r' },
      { expect: `gpus=${gpus}.` },
      { send: 'exit\r' },
    ]);
    expect(shell.code).toBe(0);
    await alice.client.instances.delete.mutate({ instanceId: id });
    await until(
      'the slice to be removed',
      async () => (await alice.client.instances.get.query({ instanceId: id })).observed === 'removed',
    );
    await rm(hami, { recursive: true, force: true });
  });

  it("user B reaches none of A's instances: not by menu, route, owner route or command", async () => {
    const menu = await drive('bob', 'bob-password', 24, 80, [
      { expect: 'Choose an instance' },
      { send: 'q\r' },
    ]);
    expect(menu.stdout).toContain('bobbox');
    expect(menu.stdout).not.toContain('box1');
    for (const login of ['bob+box1', 'bob+alice/box1']) {
      const r = await ssh(login, 'bob-password', ['cat /etc/hostname']);
      expect(r.code).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr).toContain('No instance box1 of yours');
    }
    // An admin may name the owner.
    const admin = await ssh('admin+alice/box1', 'admin-password', ['hostname']);
    expect(admin).toMatchObject({ code: 0, stdout: 'box1\n' });
  });

  it('wrong passwords answer slower each time, then even the right one is refused; all recorded', async () => {
    await api.user('carol'); // her own name: the lockout must not get in the other tests' way
    const times: number[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await ssh('carol', 'not-the-password', ['true']);
      expect(r.code).not.toBe(0);
      times.push(r.ms);
    }
    expect(times[2]!).toBeGreaterThan(times[0]! + 300);
    const locked = await ssh('carol', 'carol-password', ['true']);
    expect(locked.code).not.toBe(0);
    const log = await api.admin.audit.list.query({ type: 'LoginFailed', limit: 10 });
    expect(log.items.filter((e) => e.summary.startsWith('failed sign-in (ssh, password)'))).toHaveLength(3);
    expect(log.items[0]!.actorIp).toBe('127.0.0.1');
  });

  it("a locked address is refused carol's registered key too; from another address she signs in; a bag of keys is cut off", async () => {
    // After the test above: carol is locked out from 127.0.0.1.
    const dir = await mkdtemp(join(tmpdir(), 'tianqi-keys-'));
    try {
      for (let i = 0; i < 8; i++) {
        await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', `k${i}`, '-f', join(dir, `k${i}`)]);
      }
      const carol = await api.login('carol', 'carol-password').catch(() => null);
      expect(carol).toBeNull(); // the API is the same limiter: locked from here
      const carolId = (await api.admin.users.list.query()).find((u) => u.username === 'carol')!.userId;
      const key = await readFile(join(dir, 'k0.pub'), 'utf8');
      await api.platform.commands.users.act(
        carolId,
        { type: 'AddSshKey', publicKey: key.trim() },
        { actor: { kind: 'system', name: 'test' }, ip: null },
      );
      const withKeys = (from: string, keys: string[]) =>
        run('ssh', [
          ...sshOptions(port, 'ERROR', 'publickey'),
          '-b',
          from,
          '-o',
          'IdentitiesOnly=yes',
          '-o',
          'BatchMode=yes',
          ...keys.flatMap((k) => ['-i', join(dir, k)]),
          'carol@127.0.0.1', // no instance of hers: signed in, the menu says so and exits 0
        ]);
      // Her own key, from the locked address: refused like her password.
      expect((await withKeys('127.0.0.1', ['k0'])).code).toBe(255);
      // From another address her password gets in (after the name's throttle, a second or two).
      const fromOther = () =>
        run('sshpass', [
          '-p',
          'carol-password',
          'ssh',
          ...sshOptions(),
          '-b',
          '127.0.0.9',
          'carol@127.0.0.1',
        ]);
      let other = await fromOther();
      for (let i = 0; i < 10 && other.code !== 0; i++) {
        await new Promise((r) => setTimeout(r, 700));
        other = await fromOther();
      }
      expect(other.stdout).toContain('You have no instances');
      // Seven strange keys and then hers, in one connection: cut off after six refusals.
      const bag = await withKeys('127.0.0.9', ['k1', 'k2', 'k3', 'k4', 'k5', 'k6', 'k7', 'k0']);
      expect(bag.code).toBe(255);
      expect(bag.stderr).toMatch(/Too many authentication failures|Connection closed|Received disconnect/);
      expect((await withKeys('127.0.0.9', ['k0'])).code).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('records an interactive session (what was typed and shown, and a resize) for its owner and admins', async () => {
    const r = await drive('alice+box1', 'alice-password', 24, 80, [
      { expect: '# ' },
      { send: 'echo recorded-$((6*7))\r' },
      { expect: 'recorded-42' },
      { resize: [30, 90] },
      { sleep: 0.3 },
      { send: 'exit\r' },
    ]);
    expect(r.code).toBe(0);
    const alice = await api.login('alice', 'alice-password');
    const list = await until('the recording', async () => {
      const l = await alice.client.instances.recordings.query({ instanceId: ids.box1!.id });
      return l.length > 0 ? l : null;
    });
    expect(list[0]).toMatchObject({ username: 'alice', via: 'ssh', truncated: false });
    const { cast } = await alice.client.instances.recording.query({
      instanceId: ids.box1!.id,
      recordingId: list[0]!.recordingId,
    });
    const [header, ...events] = cast
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(header).toMatchObject({ version: 2, width: 80, height: 24 });
    const played = (kind: string) =>
      events
        .filter((e) => e[1] === kind)
        .map((e) => e[2])
        .join('');
    expect(played('i')).toContain('echo recorded-$((6*7))');
    expect(played('o')).toContain('recorded-42');
    expect(events.some((e) => e[1] === 'r' && e[2] === '90x30')).toBe(true);
    // The session's event points at it; bob cannot read it.
    const history = await alice.client.instances.history.query({ instanceId: ids.box1!.id });
    expect(
      history.some(
        (e) => e.type === 'TerminalSessionEnded' && e.summary.startsWith('SSH session from 127.0.0.1'),
      ),
    ).toBe(true);
    const bob = await api.login('bob', 'bob-password');
    await expect(
      bob.client.instances.recording.query({ instanceId: ids.box1!.id, recordingId: list[0]!.recordingId }),
    ).rejects.toThrow(/no instance/);
  });

  it('signs in with a registered public key, and not with another one', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tianqi-keys-'));
    try {
      for (const name of ['good', 'other']) {
        await run('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', name, '-f', join(dir, name)]);
      }
      const alice = await api.login('alice', 'alice-password');
      await alice.client.auth.addSshKey.mutate({ publicKey: await readFile(join(dir, 'good.pub'), 'utf8') });
      const withKey = (key: string) =>
        run('ssh', [
          ...sshOptions(port, 'ERROR', 'publickey'),
          '-o',
          'IdentitiesOnly=yes',
          '-o',
          'BatchMode=yes',
          '-i',
          join(dir, key),
          'alice+box1@127.0.0.1',
          'echo key-ok',
        ]);
      expect(await withKey('good')).toMatchObject({ code: 0, stdout: 'key-ok\n' });
      expect((await withKey('other')).code).toBe(255);
      // Oldest first: the page that holds the newest entries.
      const { total } = await api.admin.audit.list.query({ type: 'LoginSucceeded', limit: 1 });
      const log = await api.admin.audit.list.query({
        type: 'LoginSucceeded',
        limit: 20,
        offset: Math.max(0, total - 20),
      });
      expect(log.items.some((e) => e.summary === 'signed in (ssh, publickey)')).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('shows the banner before sign-in, and keeps its host key across a restart', async () => {
    const r = await run('sshpass', [
      '-p',
      'bob-password',
      'ssh',
      ...sshOptions(port, 'INFO'),
      'bob+bobbox@127.0.0.1',
      'true',
    ]);
    expect(r.stderr).toContain('Welcome to Tianqi test jumpbox');
    const scan = async (p: number) =>
      (await run('ssh-keyscan', ['-p', String(p), '-t', 'ed25519', '127.0.0.1'])).stdout
        .split(' ')
        .slice(1)
        .join(' ')
        .trim();
    const before = await scan(port);
    expect(before).toMatch(/^ssh-ed25519 AAAA/);
    const second = await secondJumpbox(5);
    const secondPort = second.port;
    try {
      expect(await scan(secondPort)).toBe(before);
    } finally {
      await second.stop();
    }
  });

  it('keeps each SSH command in the history with its exit code, and records one run with a TTY', async () => {
    const alice = await api.login('alice', 'alice-password');
    expect((await ssh('alice+box1', 'alice-password', ['echo audited-command; exit 4'])).code).toBe(4);
    const tty = await run('sshpass', [
      '-p',
      'alice-password',
      'ssh',
      '-tt',
      ...sshOptions(),
      'alice+box1@127.0.0.1',
      'echo tty-$((6*7))',
    ]);
    expect(tty).toMatchObject({ code: 0 });
    expect(tty.stdout).toContain('tty-42');
    const found = await until('both commands in the history', async () => {
      const history = await alice.client.instances.history.query({ instanceId: ids.box1!.id });
      const plain = history.find((e) => e.summary.includes('`echo audited-command; exit 4`'));
      const withTty = history.find((e) => e.summary.includes('`echo tty-$((6*7))`'));
      return plain && withTty ? { plain, withTty } : null;
    });
    expect(found.plain.summary).toMatch(
      /^SSH command `echo audited-command; exit 4` from 127\.0\.0\.1, \d+ s, exit 4$/,
    );
    expect(found.withTty.summary).toMatch(/, exit 0$/);
    // The TTY run is an interactive session: its output was recorded (the scp-like one was not).
    const [newest] = await alice.client.instances.recordings.query({ instanceId: ids.box1!.id });
    const { cast } = await alice.client.instances.recording.query({
      instanceId: ids.box1!.id,
      recordingId: newest!.recordingId,
    });
    expect(cast).toContain('tty-42');
    expect(cast).not.toContain('audited-command');
  });

  it('closes a connection with no traffic after the idle time, but not one that is showing output', async () => {
    // A second server on the same platform, idle after 3 s (the setting counts whole minutes).
    const quick = await secondJumpbox(0.05);
    const quickPort = quick.port;
    const viaQuick = (command: string) =>
      run('sshpass', [
        '-p',
        'alice-password',
        'ssh',
        ...sshOptions(quickPort),
        'alice+box1@127.0.0.1',
        command,
      ]);
    try {
      const [silent, talking] = await Promise.all([
        viaQuick('sleep 20; echo finished'),
        viaQuick('for i in 1 2 3 4 5 6 7 8; do echo "tick $i"; sleep 1; done'),
      ]);
      expect(silent.stdout).not.toContain('finished');
      expect(silent.code).not.toBe(0);
      expect(silent.ms).toBeLessThan(15_000);
      expect(talking).toMatchObject({ code: 0 });
      expect(talking.stdout).toContain('tick 8');
    } finally {
      await quick.stop();
    }
  });

  it('lets a command go when its client does: a looping pipeline ends instead of running on unseen', async () => {
    const child = sshSpawn(
      'alice+box1',
      'alice-password',
      // A pipeline that ignores SIGHUP: the whole group has to go, the hard way.
      "trap '' HUP; while :; do echo tick-after-client; sleep 0.2; done | cat",
    );
    let stdout = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    await until('the command to print', async () => stdout.includes('tick-after-client'));
    const looping = () => runningIn('box1', 'tick-after-client');
    expect(await looping()).toBe(true);
    child.kill('SIGKILL');
    // Its output has nowhere to go: it ends on the next write, as under sshd.
    await until('the command to end', async () => !(await looping()), 15_000);
  });

  it('cuts off a disabled user whose client ignores being closed: input stops, the command is hung up', async () => {
    const bob = await api.login('bob', 'bob-password');
    // A client that keeps its side of TCP open and never answers CHANNEL_CLOSE, typing on regardless.
    const raw = connect({ port, host: '127.0.0.1', allowHalfOpen: true });
    const rawClosed = new Promise<void>((resolve) => raw.once('close', () => resolve()));
    const sock = new Duplex({
      read() {},
      write(chunk, _encoding, done) {
        raw.write(chunk, done);
      },
    });
    raw.on('data', (d: Buffer) => sock.push(d));
    raw.on('error', () => {});
    sock.end = (() => sock) as typeof sock.end;
    const client = new ssh2.Client();
    client.on('error', () => {});
    let typing: NodeJS.Timeout | undefined;
    const alive = () => runningIn('bobbox', 'hostile.log');
    try {
      await new Promise<void>((resolve, reject) => {
        client.once('ready', () => resolve());
        client.once('error', reject);
        client.connect({ sock, username: 'bob+bobbox', password: 'bob-password' });
      });
      // biome-ignore lint/suspicious/noExplicitAny: ssh2's protocol object, to misbehave on purpose
      const protocol = (client as any)._protocol;
      protocol.channelClose = () => {};
      const stream = await new Promise<ssh2.ClientChannel>((resolve, reject) =>
        client.exec('tee -a /data/hostile.log >/dev/null', (err, s) => (err ? reject(err) : resolve(s))),
      );
      let n = 0;
      typing = setInterval(
        () =>
          protocol.channelData(
            (stream as unknown as { outgoing: { id: number } }).outgoing.id,
            Buffer.from(`typed ${++n}\n`),
          ),
        100,
      );
      await until('the command to run', alive);
      await api.admin.users.disable.mutate({ userId: bob.userId });
      // The server drops the connection itself, and the command goes with it.
      await Promise.race([
        rawClosed,
        new Promise((_, no) => setTimeout(() => no(new Error('still open')), 10_000)),
      ]);
      await until('the command to be hung up', async () => !(await alive()), 10_000);
    } finally {
      clearInterval(typing);
      client.end();
      raw.destroy();
      await api.admin.users.enable.mutate({ userId: bob.userId });
    }
  });

  it('one connection holds at most 10 sessions at once (MaxSessions); another connection has its own', async () => {
    const signIn = async () => {
      const client = new ssh2.Client();
      client.on('error', () => {});
      await new Promise<void>((resolve, reject) => {
        client.once('ready', () => resolve());
        client.once('error', reject);
        client.connect({ host: '127.0.0.1', port, username: 'alice+box1', password: 'alice-password' });
      });
      return client;
    };
    const exec = (client: ssh2.Client, cmd: string) =>
      new Promise<ssh2.ClientChannel>((resolve, reject) =>
        client.exec(cmd, (err, stream) => (err ? reject(err) : resolve(stream))),
      );
    const first = await signIn();
    const second = await signIn();
    try {
      await Promise.all(Array.from({ length: 10 }, () => exec(first, 'sleep 20')));
      await expect(exec(first, 'echo eleventh')).rejects.toThrow(/open failure|Channel open/i);
      const other = await exec(second, 'echo other');
      let out = '';
      other.on('data', (d: Buffer) => (out += d));
      await new Promise((resolve) => other.once('close', resolve));
      expect(out).toBe('other\n');
    } finally {
      first.end();
      second.end();
    }
  });

  it("closes a user's open SSH sessions when an admin disables them, and refuses them after", async () => {
    const bob = await api.login('bob', 'bob-password');
    const child = sshSpawn('bob+bobbox', 'bob-password', 'echo started; sleep 60');
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on('data', (d: Buffer) => {
      stderr += d.toString();
    });
    const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
    try {
      await until('the command to start', async () => stdout.includes('started'));
      await api.admin.users.disable.mutate({ userId: bob.userId });
      // Well before the command's own minute is up.
      const code = await Promise.race([
        exited,
        new Promise((r) => setTimeout(() => r('still open'), 15_000)),
      ]);
      expect(code).not.toBe('still open');
      expect(code).not.toBe(0);
      expect(stderr).toContain('Your access changed');
      expect((await ssh('bob+bobbox', 'bob-password', ['true'])).code).toBe(255);
    } finally {
      child.kill();
      await api.admin.users.enable.mutate({ userId: bob.userId });
    }
  });
});
