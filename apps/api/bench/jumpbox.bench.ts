/**
 * SSH jumpbox benchmark, on the real Docker test nodes: one running instance (image tianqi-test/bash, a
 * CPU spec, on node2, plain TCP) of a whole platform started in this process, reached three ways:
 *
 * - the jumpbox: Debian's `ssh` client to the platform's SSH server, `alice+bench@127.0.0.1`;
 * - directly: the `docker` CLI on this machine, `docker -H tcp://NODE exec CONTAINER ...`;
 * - an OpenSSH bastion, the setup an admin would otherwise use: Debian's own `sshd` (package
 *   openssh-server, installed here on demand when running as root on a machine without systemd, as the
 *   test machines are; else its rows are skipped with the reason) on a free loopback port, with a
 *   private config, host key and authorized_keys in a temporary directory, no PAM, and a
 *   `ForceCommand` that runs the session in the container with the `docker` CLI: `docker exec -i` for
 *   a command without a TTY (`ssh host 'cat …'`), `docker exec -it` when the client asked for a TTY
 *   (`ssh -tt host`; `-t` without one fails: "the input device is not a TTY"), and `bash -c "$CMD"`
 *   as the jumpbox does (it runs `bash -c` too).
 *
 * Both SSH paths use the same client, options, cipher (the client's default, chacha20-poly1305) and
 * the same ed25519 key (registered as alice's SSH key on the platform, and in the bastion's
 * authorized_keys), so the only difference between them is the server side.
 *
 * 1. Throughput: `cat` of a file of TIANQI_BENCH_JUMPBOX_MB (default 100) MB of random bytes in the
 *    container, read to /dev/null on this side; wall-clock time of the whole client command (sign-in
 *    and exec start included: what a user waits for), median of TIANQI_BENCH_JUMPBOX_RUNS (7) after
 *    one untimed run per path that checks the byte count; the paths take turns run by run, so that a
 *    slow spell of the machine does not fall on one path only. Targets from the issue: jumpbox ≥ 1.2×
 *    the bastion, ≥ 0.6× `docker exec` directly. The time to run `true` the same way (session set-up)
 *    is measured too, and the rate without it shown (`steadyMBps`, and rows without targets), as is
 *    the CPU time the API process (the jumpbox) spends per cat (a steadier figure than the wall clock
 *    to follow the jumpbox's own cost by), and the whole machine's (every process of the path: on a
 *    small machine, what bounds the throughput).
 * 2. Keystroke round trip: in an interactive shell with a TTY (a pseudo-terminal driven by a small
 *    Python program), TIANQI_BENCH_JUMPBOX_KEYSTROKES (200) characters typed one at a time, each timed
 *    until bash's echo of it is read back; p50 and p99 for each path.
 *
 * Every path shares this machine's cores with the others' stages (Docker, containerd's shim, the
 * `ssh` client, sshd), so on a small machine the figures are as much about CPU as about the code: on
 * 2 cores the whole pipeline is CPU-bound and runs vary by ±30 %; raise TIANQI_BENCH_JUMPBOX_RUNS for
 * steadier medians. TIANQI_BENCH_DATABASE_URL: a PostgreSQL server for the platform's database (else
 * a private one is started). `npm run bench -- --json` writes bench/results/jumpbox.json. About 40 s
 * with the defaults (plus installing openssh-server once).
 */
import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync } from 'node:fs';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import {
  BenchReport,
  freePort,
  loadTestNodes,
  machineBusyMs,
  openBenchDatabase,
  percentile,
} from '@tianqi/infra';
import Docker from 'dockerode';
import pino from 'pino';
import { configSchema } from '../src/config/schema.js';
import { type RunningPlatform, startPlatform } from '../src/platform.js';
import { type ApiClient, createApiClient } from '../test/support/api-client.js';
import { cpuCatalog } from '../test/support/cpu-catalog.js';

const MB = Number(process.env.TIANQI_BENCH_JUMPBOX_MB ?? 100);
const RUNS = Number(process.env.TIANQI_BENCH_JUMPBOX_RUNS ?? 7);
const KEYSTROKES = Number(process.env.TIANQI_BENCH_JUMPBOX_KEYSTROKES ?? 200);
const ADMIN = { username: 'admin', password: 'admin-password' };
const FILE = '/data/big';
const SSHD = '/usr/sbin/sshd';

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const sorted = (xs: number[]) => [...xs].sort((a, b) => a - b);
const median = (xs: number[]) => percentile(sorted(xs), 50);

async function until<T>(what: string, check: () => Promise<T | null | false>, ms = 60_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check().catch(() => null);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await sleep(50);
  }
}

interface Run {
  code: number | null;
  ms: number;
  /** Bytes on stdout, when it was counted (else it went to /dev/null). */
  bytes: number;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end; stdout to /dev/null (`null`), counted (`count`) or kept (`keep`). */
function run(cmd: string, args: string[], stdout: 'null' | 'count' | 'keep' = 'keep'): Promise<Run> {
  const devNull = stdout === 'null' ? openSync('/dev/null', 'w') : null;
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    const child = spawn(cmd, args, { stdio: ['ignore', devNull ?? 'pipe', 'pipe'] });
    let bytes = 0;
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout?.on('data', (d: Buffer) => {
      bytes += d.length;
      if (stdout === 'keep') out.push(d);
    });
    child.stderr!.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      if (devNull !== null) closeSync(devNull);
      resolve({
        code,
        ms: performance.now() - t0,
        bytes,
        stdout: Buffer.concat(out).toString(),
        stderr: Buffer.concat(err).toString(),
      });
    });
  });
}

async function mustRun(cmd: string, args: string[]): Promise<string> {
  const r = await run(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.trim()}`);
  return r.stdout;
}

/**
 * Types `n` characters one at a time into the shell a command opens in a pseudo-terminal (80×24), and
 * prints each one's time in ms from its write until its echo is read back, as JSON. Waits for a
 * prompt first, sets a prompt of its own, and kills the line (^U) every 40 characters so that it never
 * wraps. Exits 124 when something does not come in time.
 */
const KEYSTROKE_DRIVER = String.raw`
import fcntl, json, os, pty, select, signal, struct, sys, termios, time
n = int(sys.argv[1])
argv = sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 80, 0, 0))
buf = b""
def fail(why):
    sys.stderr.write("%s; the session showed: %r\n" % (why, buf[-400:]))
    os.kill(pid, signal.SIGKILL)
    sys.exit(124)
def read(timeout):
    global buf
    r, _, _ = select.select([fd], [], [], timeout)
    if not r:
        return None
    try:
        d = os.read(fd, 65536)
    except OSError:
        d = b""
    if not d:
        fail("the session ended")
    buf += d
    return d
def wait_for(pred, timeout, what):
    deadline = time.monotonic() + timeout
    while not pred(buf):
        left = deadline - time.monotonic()
        if left <= 0:
            fail("timed out waiting for " + what)
        read(left)
def drain(quiet):
    while read(quiet) is not None:
        pass
wait_for(lambda b: b.rstrip().endswith((b"#", b"$")), 30, "a prompt")
os.write(fd, b"PS1='be''nch> '\r")
wait_for(lambda b: b"bench> " in b, 15, "the new prompt")
drain(0.3)
chars = b"abcdefghijklmnopqrstuvwxyz"
times = []
for i in range(n):
    if i > 0 and i % 40 == 0:
        os.write(fd, b"\x15")
        drain(0.1)
    c = chars[i % len(chars):i % len(chars) + 1]
    buf = b""
    t = time.perf_counter()
    os.write(fd, c)
    wait_for(lambda b: c in b, 10, "the echo of %r" % c)
    times.append((time.perf_counter() - t) * 1000)
os.write(fd, b"\x15exit\r")
deadline = time.monotonic() + 5
try:
    while time.monotonic() < deadline:
        if read(0.2) is None and os.waitpid(pid, os.WNOHANG)[0] != 0:
            break
except SystemExit:
    pass
try:
    os.kill(pid, signal.SIGKILL)
except ProcessLookupError:
    pass
print(json.dumps(times))
`;

async function keystrokes(client: string[]): Promise<number[]> {
  const r = await run('python3', ['-c', KEYSTROKE_DRIVER, String(KEYSTROKES), ...client]);
  if (r.code !== 0 && !r.stdout.trim().startsWith('['))
    throw new Error(`keystroke driver (${client.join(' ')}) exited ${r.code}: ${r.stderr.trim()}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as number[];
}

/** The same `ssh` for the jumpbox and the bastion: no config files, this key only, no prompts. */
const sshArgs = (port: number, key: string) => [
  '-F',
  '/dev/null',
  '-p',
  String(port),
  '-i',
  key,
  '-o',
  'IdentitiesOnly=yes',
  '-o',
  'BatchMode=yes',
  '-o',
  'PreferredAuthentications=publickey',
  '-o',
  'StrictHostKeyChecking=no',
  '-o',
  'UserKnownHostsFile=/dev/null',
  '-o',
  'LogLevel=ERROR',
];

interface Bastion {
  port: number;
  user: string;
  stop(): Promise<void>;
}

/** Debian's sshd when it is there; installed with apt-get when running as root; else why not. */
function ensureSshd(): string | null {
  if (existsSync(SSHD)) return null;
  if (process.getuid?.() !== 0) return `${SSHD} is missing and installing openssh-server needs root`;
  // On a host booted with systemd the package's scripts would also enable and start the system's own
  // sshd on port 22: not something a benchmark should do behind the admin's back.
  if (existsSync('/run/systemd/system'))
    return `${SSHD} is missing: install openssh-server (apt-get install openssh-server) for the bastion rows`;
  console.error('installing openssh-server for the bastion (apt-get)');
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  let r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'openssh-server'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  if (r.status !== 0) {
    spawnSync('apt-get', ['update'], { env, stdio: 'ignore' });
    r = spawnSync('apt-get', ['install', '-y', '--no-install-recommends', 'openssh-server'], {
      env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
  }
  if (r.status !== 0 || !existsSync(SSHD))
    return `could not install openssh-server: ${String(r.stderr ?? '')
      .trim()
      .split('\n')
      .pop()}`;
  return null;
}

/**
 * A private OpenSSH bastion: sshd on a free loopback port, its config, host key and authorized_keys
 * in `dir`, no PAM (public-key sign-in of the user running this, root here), and every session forced
 * into the container with the docker CLI.
 */
async function startBastion(dir: string, publicKey: string, dockerHost: string, container: string) {
  const port = await freePort();
  const user = userInfo().username;
  const docker = (await mustRun('sh', ['-c', 'command -v docker'])).trim();
  await mustRun('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'host_ed25519')]);
  await writeFile(join(dir, 'authorized_keys'), publicKey, { mode: 0o600 });
  // What the admin's ForceCommand runs: the client's command (or a login shell) in the container,
  // with a TTY only when the client asked for one (sshd sets SSH_TTY then).
  await writeFile(
    join(dir, 'bastion.sh'),
    [
      'if [ -n "$SSH_TTY" ]; then tty=-it; else tty=-i; fi',
      `if [ -n "$SSH_ORIGINAL_COMMAND" ]; then exec ${docker} -H ${dockerHost} exec $tty ${container} bash -c "$SSH_ORIGINAL_COMMAND"; fi`,
      `exec ${docker} -H ${dockerHost} exec $tty ${container} bash -l`,
      '',
    ].join('\n'),
  );
  const config = join(dir, 'sshd_config');
  await writeFile(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${join(dir, 'host_ed25519')}`,
      'PidFile none',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      `AllowUsers ${user}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'StrictModes no',
      'PermitTTY yes',
      'AllowTcpForwarding no',
      'X11Forwarding no',
      'PrintMotd no',
      'PrintLastLog no',
      'UseDNS no',
      'LogLevel INFO',
      `ForceCommand /bin/sh ${join(dir, 'bastion.sh')}`,
      '',
    ].join('\n'),
  );
  // Privilege separation needs this directory (the service would make it at start).
  const madeRunDir = process.getuid?.() === 0 && !existsSync('/run/sshd');
  if (madeRunDir) await mkdir('/run/sshd', { recursive: true, mode: 0o755 });
  const sshd: ChildProcess = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const exited = new Promise<void>((resolve) => sshd.once('exit', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`sshd did not start: ${log}`)), 10_000);
    sshd.stderr!.on('data', (d: Buffer) => {
      log += d.toString();
      if (log.includes('Server listening')) {
        clearTimeout(timer);
        resolve();
      }
    });
    sshd.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`sshd exited ${code}: ${log}`));
    });
  });
  return {
    port,
    user,
    async stop() {
      sshd.kill('SIGTERM');
      await Promise.race([exited, sleep(3000)]);
      if (madeRunDir) await rm('/run/sshd', { recursive: true, force: true });
    },
  } satisfies Bastion;
}

interface Path {
  name: string;
  /** `cat FILE` with stdout to this process. */
  cat: [string, string[]];
  /** `true`: the session's set-up alone. */
  noop: [string, string[]];
  /** An interactive login shell with a TTY. */
  shell: string[];
}

interface Measured {
  mbps: number;
  steady: number;
  setupMs: number;
  runs: string;
  /** CPU time of this process (where the jumpbox runs) per cat, median: the jumpbox's own cost. */
  cpuMs: number;
  /** CPU time of the whole machine (every process: Docker, ssh, sshd, …) per cat, median. */
  machineMs: number;
  p50: number;
  p99: number;
}

/**
 * The runs of every path in turn (path 1, 2, 3, then again), so that a slower spell of the machine
 * (it has few cores, and other work) falls on each path alike rather than on one.
 */
async function measure(paths: Path[], bytes: number): Promise<Record<string, Measured>> {
  const must = async (path: Path, [cmd, args]: [string, string[]], what: string) => {
    const cpu = process.cpuUsage();
    const busy = machineBusyMs();
    const r = await run(cmd, args, 'null');
    const machineMs = machineBusyMs() - busy;
    const used = process.cpuUsage(cpu);
    if (r.code !== 0) throw new Error(`${path.name}: ${what} exited ${r.code}: ${r.stderr}`);
    return { ms: r.ms, cpuMs: (used.user + used.system) / 1000, machineMs };
  };
  for (const path of paths) {
    const check = await run(path.cat[0], path.cat[1], 'count');
    if (check.code !== 0 || check.bytes !== bytes)
      throw new Error(
        `${path.name}: cat gave ${check.bytes} of ${bytes} bytes, exit ${check.code}: ${check.stderr}`,
      );
  }
  const setup = new Map<Path, number[]>(paths.map((p) => [p, []]));
  const cats = new Map<Path, { ms: number; cpuMs: number; machineMs: number }[]>(paths.map((p) => [p, []]));
  for (let i = 0; i < RUNS; i++)
    for (const path of paths) setup.get(path)!.push((await must(path, path.noop, 'true')).ms);
  for (let i = 0; i < RUNS; i++)
    for (const path of paths) cats.get(path)!.push(await must(path, path.cat, 'cat'));
  const out: Record<string, Measured> = {};
  for (const path of paths) {
    const ms = cats.get(path)!.map((c) => c.ms);
    const lat = sorted(await keystrokes(path.shell));
    const m: Measured = {
      mbps: MB / (median(ms) / 1000),
      steady: MB / ((median(ms) - median(setup.get(path)!)) / 1000),
      setupMs: median(setup.get(path)!),
      runs: ms.map((x) => Math.round(x)).join(' / '),
      cpuMs: median(cats.get(path)!.map((c) => c.cpuMs)),
      machineMs: median(cats.get(path)!.map((c) => c.machineMs)),
      p50: percentile(lat, 50),
      p99: percentile(lat, 99),
    };
    console.error(
      `  ${path.name}: ${m.mbps.toFixed(1)} MB/s (runs ${m.runs} ms, set-up ${Math.round(m.setupMs)} ms, this process's CPU ${Math.round(m.cpuMs)} ms a cat, the machine's ${Math.round(m.machineMs)} ms); keystroke p50 ${m.p50.toFixed(2)} ms, p99 ${m.p99.toFixed(2)} ms`,
    );
    out[path.name] = m;
  }
  return out;
}

async function main(): Promise<void> {
  const started = performance.now();
  const report = new BenchReport('jumpbox');
  const { nodes, images } = loadTestNodes();
  const node = nodes[1]!;
  if (node.tls) throw new Error(`${node.name} is expected to be plain TCP`);
  const dockerHost = `tcp://${node.host}:${node.port}`;
  const docker = new Docker({ host: node.host, port: node.port });
  const dir = await mkdtemp(join(tmpdir(), 'tianqi-jumpbench-'));
  const db = await openBenchDatabase();
  let platform: RunningPlatform | undefined;
  let bastion: Bastion | undefined;
  let alice: ApiClient | undefined;
  let instanceId: string | undefined;
  let containerId: string | undefined;
  try {
    const sshdMissing = ensureSshd();
    const port = await freePort();
    const jumpPort = await freePort();
    platform = await startPlatform(
      configSchema.parse({
        server: { host: '127.0.0.1', port },
        'data-dir': join(dir, 'data'),
        database: { url: db.url, 'pool-size': 20 },
        log: { level: 'silent' },
        jumpbox: { enabled: true, port: jumpPort, host: '127.0.0.1', banner: '' },
        secrets: { key: randomBytes(32).toString('base64') },
        admin: ADMIN,
        sync: { 'interval-seconds': 60 },
        docker: { 'local-socket': '', 'network-mode': 'none', 'stop-timeout-seconds': 1 },
      }),
      pino({ level: 'silent' }),
    );
    const url = `http://127.0.0.1:${port}`;
    const login = async (username: string, password: string) =>
      createApiClient(
        url,
        (await createApiClient(url).auth.login.mutate({ username, password, via: 'cli' })).token!,
      );
    const admin = await login(ADMIN.username, ADMIN.password);
    const { imageId, specId } = await cpuCatalog(admin, {
      prefix: 'bench',
      dockerAddress: dockerHost,
      bashImage: images.bash,
      spec: { cpuCores: 1, memoryGb: 1, systemDiskGb: 2 },
    });
    await admin.users.create.mutate({ username: 'alice', password: 'alice-password', role: 'user' });
    alice = await login('alice', 'alice-password');
    const key = join(dir, 'client_ed25519');
    await mustRun('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'bench', '-f', key]);
    const publicKey = await readFile(`${key}.pub`, 'utf8');
    await alice.auth.addSshKey.mutate({ publicKey });
    const client = alice;
    instanceId = (await client.instances.create.mutate({ name: 'bench', imageId, specId })).id;
    const id = instanceId;
    containerId = await until('the instance to run', async () => {
      const r = await client.instances.get.query({ instanceId: id });
      return r.observed === 'running' ? r.containerId : null;
    });
    const bytes = MB * 1024 * 1024;
    await mustRun('docker', [
      '-H',
      dockerHost,
      'exec',
      containerId,
      'sh',
      '-c',
      `mkdir -p /data && head -c ${bytes} /dev/urandom > ${FILE}`,
    ]);
    console.error(
      `${MB} MB in ${FILE} of instance bench (container ${containerId.slice(0, 12)} on ${node.name})`,
    );

    const jump = sshArgs(platform.jumpbox!.port, key);
    const paths: Path[] = [
      {
        name: 'docker exec directly',
        cat: ['docker', ['-H', dockerHost, 'exec', containerId, 'cat', FILE]],
        noop: ['docker', ['-H', dockerHost, 'exec', containerId, 'true']],
        shell: ['docker', '-H', dockerHost, 'exec', '-it', containerId, 'bash', '-l'],
      },
      {
        name: 'jumpbox',
        cat: ['ssh', [...jump, 'alice+bench@127.0.0.1', `cat ${FILE}`]],
        noop: ['ssh', [...jump, 'alice+bench@127.0.0.1', 'true']],
        shell: ['ssh', '-tt', ...jump, 'alice+bench@127.0.0.1'],
      },
    ];
    let bastionSkipped = sshdMissing;
    if (!sshdMissing) {
      try {
        bastion = await startBastion(await mkdtemp(join(dir, 'sshd-')), publicKey, dockerHost, containerId);
        const b = sshArgs(bastion.port, key);
        const login = `${bastion.user}@127.0.0.1`;
        paths.push({
          name: 'OpenSSH bastion',
          cat: ['ssh', [...b, login, `cat ${FILE}`]],
          noop: ['ssh', [...b, login, 'true']],
          shell: ['ssh', '-tt', ...b, login],
        });
      } catch (err) {
        bastionSkipped = `the bastion's sshd did not start: ${(err as Error).message}`;
      }
    }
    if (bastionSkipped) console.error(`skipping the OpenSSH bastion rows: ${bastionSkipped}`);

    const got = await measure(paths, bytes);
    const direct = got['docker exec directly']!;
    const jumpbox = got.jumpbox!;
    const openssh = got['OpenSSH bastion'];
    const params = (m: Measured) => ({
      mb: MB,
      runs: m.runs,
      setupMs: Math.round(m.setupMs),
      steadyMBps: Math.round(m.steady),
    });
    const cat = (through: string) => `cat ${MB} MB to /dev/null ${through} (median of ${RUNS})`;
    report.add({
      name: cat('with docker exec directly'),
      unit: 'MB/s',
      value: direct.mbps,
      params: params(direct),
    });
    if (openssh)
      report.add({
        name: cat('through the OpenSSH bastion'),
        unit: 'MB/s',
        value: openssh.mbps,
        params: params(openssh),
      });
    // The jumpbox against each other path: the targets are the issue's.
    const peers = [
      { name: 'OpenSSH bastion', m: openssh, target: 1.2 },
      { name: 'docker exec', m: direct, target: 0.6 },
    ].flatMap((p) => (p.m ? [{ ...p, m: p.m }] : []));
    for (const peer of peers)
      report.add({
        name: cat('through the jumpbox'),
        unit: 'MB/s',
        value: jumpbox.mbps,
        params: params(jumpbox),
        peer: { name: peer.name, value: peer.m.mbps, ratio: jumpbox.mbps / peer.m.mbps },
        target: { op: '>=', value: peer.target, of: 'ratio' },
      });
    // The same without each path's session set-up (the median time of `true` taken off the median
    // time of cat): the rate once bytes flow, where the bastion's slow start (sshd, a shell and the
    // docker CLI started per session) does not count.
    for (const peer of peers)
      report.add({
        name: `cat ${MB} MB through the jumpbox, set-up time taken out`,
        unit: 'MB/s',
        value: jumpbox.steady,
        params: { mb: MB },
        peer: { name: peer.name, value: peer.m.steady, ratio: jumpbox.steady / peer.m.steady },
      });
    // CPU time of this process during each cat: the jumpbox's (the API runs here); the bench's own
    // share is what the same figure shows for the other paths (a few ms).
    report.add({
      name: `CPU of the API process per cat of ${MB} MB through the jumpbox (median)`,
      unit: 'ms',
      value: jumpbox.cpuMs,
      params: { mb: MB, sameFigureForDockerExec: Math.round(direct.cpuMs) },
    });
    // The whole machine's CPU per cat: on a small machine, what bounds each path's throughput.
    for (const [label, m] of [
      ['docker exec directly', direct],
      ['the jumpbox', jumpbox],
    ] as const) {
      report.add({
        name: `CPU of the whole machine per cat of ${MB} MB, ${label} (median)`,
        unit: 'ms',
        value: m.machineMs,
        params: { mb: MB },
      });
    }
    for (const q of ['p50', 'p99'] as const) {
      const name = (through: string) => `keystroke echo ${q}, ${through} (${KEYSTROKES} keys)`;
      report.add({
        name: name('docker exec -it directly'),
        unit: 'ms',
        value: direct[q],
        params: { keys: KEYSTROKES },
      });
      if (openssh)
        report.add({
          name: name('OpenSSH bastion'),
          unit: 'ms',
          value: openssh[q],
          params: { keys: KEYSTROKES },
        });
      report.add({
        name: name('jumpbox'),
        unit: 'ms',
        value: jumpbox[q],
        params: { keys: KEYSTROKES },
        peer: openssh
          ? { name: 'OpenSSH bastion', value: openssh[q], ratio: jumpbox[q] / openssh[q] }
          : { name: 'docker exec -it', value: direct[q], ratio: jumpbox[q] / direct[q] },
      });
    }
    for (const [name, m] of Object.entries(got))
      report.add({
        name: `session set-up, \`true\` ${name === 'jumpbox' || name === 'OpenSSH bastion' ? 'through the' : 'with'} ${name} (median of ${RUNS})`,
        unit: 'ms',
        value: m.setupMs,
        params: {},
      });
    if (bastionSkipped) console.error(`(no OpenSSH bastion rows: ${bastionSkipped})`);
  } finally {
    await bastion?.stop().catch((err: unknown) => console.error('stopping sshd:', err));
    if (alice && instanceId) {
      const id = instanceId;
      const client = alice;
      await client.instances.delete
        .mutate({ instanceId: id })
        .then(() =>
          until(
            'the container to be removed',
            async () => {
              try {
                await docker.getContainer(containerId!).inspect();
                return false;
              } catch {
                return true;
              }
            },
            20_000,
          ),
        )
        .catch(async (err: unknown) => {
          console.error('deleting the instance:', (err as Error).message);
          if (containerId)
            await docker
              .getContainer(containerId)
              .remove({ force: true, v: true })
              .catch(() => {});
        });
    }
    await platform?.stop().catch((err: unknown) => console.error('stopping the platform:', err));
    await db.drop().catch((err: unknown) => console.error('dropping the database:', err));
    await rm(dir, { recursive: true, force: true });
  }
  report.finish(process.argv.slice(2), fileURLToPath(new URL('../../../', import.meta.url)));
  console.error(`\n${((performance.now() - started) / 1000).toFixed(1)} s`);
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
