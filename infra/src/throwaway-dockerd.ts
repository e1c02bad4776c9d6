import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { openSync, readdirSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import Docker from 'dockerode';
import { freePort } from './postgres.js';
import { type TestNode, testNodesDir } from './test-nodes.js';

const run = promisify(execFile);

/** A Docker daemon of one test's own, which it may SIGKILL and start again. */
export interface ThrowawayDockerd {
  /** As a test node: plain TCP on a loopback address. */
  node: TestNode;
  socketPath: string;
  host: string;
  port: number;
  /** Its folder: data root, exec root, log (`dockerd.log`). */
  dir: string;
  /** The busybox test image, imported. */
  image: string;
  /** A client over the unix socket (for the test's own looks, not the platform's). */
  docker: Docker;
  /** SIGKILL to dockerd, as a crash would; its containerd goes with it, the shims stay. */
  kill(): Promise<void>;
  /** Starts dockerd again on the same folders and address, and waits until it answers. */
  restart(): Promise<void>;
  /** Removes everything: containers, daemon, containerd, shims, container processes, mounts, folder. */
  stop(): Promise<void>;
}

const READY_MS = 120_000;

/**
 * Starts a dockerd of its own (data root, exec root, pidfile, socket, containerd namespace, all in a
 * new folder), listening on `host` (127.0.0.61 unless told) at a free port, with the stand-in NVIDIA
 * hook on its PATH, and imports the busybox test image made by infra/test-nodes/start.sh. Needs root.
 */
export async function startThrowawayDockerd(options: { host?: string } = {}): Promise<ThrowawayDockerd> {
  // Looked for before any daemon starts: without the test images there is nothing to start it for.
  const images = join(testNodesDir(), 'images');
  const imageFile = join(images, newest(await readdir(images).catch(() => []), 'busybox'));
  const host = options.host ?? '127.0.0.61';
  const port = await freePort(host);
  const dir = await mkdtemp(join(tmpdir(), 'tianqi-dockerd-'));
  const socketPath = join(dir, 'docker.sock');
  const namespace = `tianqi-throwaway-${randomBytes(4).toString('hex')}`;
  await mkdir(join(dir, 'bin'));
  await writeFile(join(dir, 'bin', 'nvidia-container-runtime-hook'), '#!/bin/sh\nexit 0\n');
  await chmod(join(dir, 'bin', 'nvidia-container-runtime-hook'), 0o755);
  const docker = new Docker({ socketPath });
  let daemon: ChildProcess | null = null;

  const launch = async () => {
    await rm(join(dir, 'docker.pid'), { force: true });
    await rm(socketPath, { force: true });
    const log = openSync(join(dir, 'dockerd.log'), 'a');
    const child = spawn(
      'dockerd',
      [
        ...['--data-root', join(dir, 'data'), '--exec-root', join(dir, 'exec')],
        ...[
          '--pidfile',
          join(dir, 'docker.pid'),
          '-H',
          `unix://${socketPath}`,
          '-H',
          `tcp://${host}:${port}`,
        ],
        ...['--bridge', 'none', '--iptables=false', '--ip-masq=false'],
        ...['--containerd-namespace', namespace, '--containerd-plugins-namespace', `${namespace}-plugins`],
        ...['--log-level', 'warn'],
      ],
      {
        detached: true,
        stdio: ['ignore', log, log],
        env: { ...process.env, PATH: `${join(dir, 'bin')}:${process.env.PATH ?? ''}` },
      },
    );
    child.unref();
    daemon = child;
    const deadline = Date.now() + READY_MS;
    for (;;) {
      if (child.exitCode !== null)
        throw new Error(`dockerd exited (${child.exitCode}); see ${dir}/dockerd.log`);
      if (
        await docker.ping().then(
          () => true,
          () => false,
        )
      )
        return;
      if (Date.now() > deadline)
        throw new Error(`dockerd did not answer within ${READY_MS} ms; see ${dir}/dockerd.log`);
      await sleep(200);
    }
  };
  const killDaemon = async (signal: NodeJS.Signals) => {
    const child = daemon;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill(signal);
    await Promise.race([exited, sleep(20_000)]);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGKILL');
      await exited;
    }
  };

  const image = 'tianqi-test/busybox:latest';
  const throwaway: ThrowawayDockerd = {
    node: { name: 'throwaway', host, port, tls: false, socketPath, gpuCount: 8 },
    socketPath,
    host,
    port,
    dir,
    image,
    docker,
    kill: () => killDaemon('SIGKILL'),
    restart: async () => {
      await killDaemon('SIGKILL');
      await forgetContainerd(dir);
      await launch();
    },
    stop: async () => {
      const ids = new Set(containerIds(dir));
      const answering = await docker.ping().then(
        () => true,
        () => false,
      );
      if (answering) {
        for (const c of await docker.listContainers({ all: true }).catch(() => [])) {
          await docker
            .getContainer(c.Id)
            .remove({ force: true, v: true })
            .catch(() => {});
        }
      }
      await killDaemon('SIGTERM');
      // What the daemon left behind: containerd, shims (their command line names the folder) and the
      // processes of its containers (their cgroup names the container).
      for (const p of processesOf(dir, ids)) {
        try {
          process.kill(p.pid, 'SIGKILL');
        } catch {}
      }
      await until(() => processesOf(dir, ids).length === 0).catch(() => {});
      const mounts = readFileSync('/proc/mounts', 'utf8')
        .split('\n')
        .map((l) => l.split(' ')[1] ?? '')
        .filter((m) => m.startsWith(`${dir}/`))
        .sort()
        .reverse();
      for (const m of mounts) await run('umount', ['-l', m]).catch(() => {});
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await launch();
    await run('docker', [
      ...['-H', `unix://${socketPath}`, 'import', '--change', 'CMD ["/bin/sh"]'],
      imageFile,
      image,
    ]);
  } catch (err) {
    // A start that did not get through leaves no daemon behind (the caller has nothing to stop).
    await throwaway.stop().catch(() => {});
    throw err;
  }
  return throwaway;
}

/** The newest `<name>-v<N>.tar` of the test images. */
function newest(files: string[], name: string): string {
  const versions = files
    .map((f) => new RegExp(`^${name}-v(\\d+)\\.tar$`).exec(f))
    .filter((m): m is RegExpExecArray => m !== null)
    .sort((a, b) => Number(b[1]) - Number(a[1]));
  if (!versions[0])
    throw new Error(`no ${name} test image in ${testNodesDir()}/images: run infra/test-nodes/start.sh`);
  return versions[0][0];
}

/**
 * Its containerd dies with dockerd (started with a parent-death signal), but until the zombie is
 * reaped its pid still answers, and a new dockerd that reads that pid from containerd.pid waits for
 * it to serve instead of starting one. Once it is dead the pid file is dropped.
 */
async function forgetContainerd(dir: string): Promise<void> {
  const pidFile = join(dir, 'exec', 'containerd', 'containerd.pid');
  let pid: number;
  try {
    pid = Number(readFileSync(pidFile, 'utf8').trim());
  } catch {
    return;
  }
  const dead = () => {
    try {
      return /^\d+ \(.*\) Z/.test(readFileSync(`/proc/${pid}/stat`, 'utf8'));
    } catch {
      return true;
    }
  };
  await until(dead);
  await rm(pidFile, { force: true });
}

function containerIds(dir: string): string[] {
  try {
    return readdirSync(join(dir, 'data', 'containers'));
  } catch {
    return [];
  }
}

/** Processes whose command line names the folder, or whose cgroup is one of these containers'. */
function processesOf(dir: string, containers: Set<string>): { pid: number; cmdline: string }[] {
  const found: { pid: number; cmdline: string }[] = [];
  for (const entry of readdirSync('/proc')) {
    const pid = Number(entry);
    if (!Number.isInteger(pid) || pid === process.pid) continue;
    try {
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replaceAll('\0', ' ');
      const cgroup = containers.size > 0 ? readFileSync(`/proc/${pid}/cgroup`, 'utf8') : '';
      if (cmdline.includes(`${dir}/`) || [...containers].some((id) => cgroup.includes(id)))
        found.push({ pid, cmdline });
    } catch {} // gone meanwhile
  }
  return found;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function until(probe: () => boolean, ms = 20_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!probe()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await sleep(100);
  }
}
