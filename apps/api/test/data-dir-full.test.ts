import { execFile, spawn } from 'node:child_process';
import { mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createTestDatabase, freePort, loadTestNodes } from '@tianqi/infra';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DataDirWriteError } from '../src/data-dir/write-new-file.js';
import { Jumpbox } from '../src/jumpbox/jumpbox.js';
import { type ApiFixture, openApi } from './api-fixture.js';
import { until } from './docker-fixture.js';
import { type CpuCatalog, cpuCatalog } from './support/cpu-catalog.js';
import { sshClientOptions } from './support/ssh-options.js';

/**
 * The data folder on a 1 MB tmpfs that the test fills up while the platform runs: what is kept there
 * (the jumpbox host key, the secrets key, the setup code) fails in plain words, and the rest —
 * terminal recordings, which live in PostgreSQL, the API, creates — goes on.
 */
const run = promisify(execFile);
const plain = loadTestNodes().nodes[1]!;
const images = loadTestNodes().images;
const BIN = fileURLToPath(new URL('../bin/tianqi-server.js', import.meta.url));
const DRIVE = fileURLToPath(new URL('./support/pty-drive.py', import.meta.url));
const FULL_DISK = /the disk of the data folder is full/;
let disk: string;
let api: ApiFixture;
let sshPort: number;
let catalog: CpuCatalog;

beforeAll(async () => {
  disk = await mkdtemp(join(tmpdir(), 'tianqi-full-disk-'));
  await run('mount', ['-t', 'tmpfs', '-o', 'size=1m', 'tmpfs', disk]);
  sshPort = await freePort();
  // A folder inside the mount: the fixture removes its data folder, and a mount point cannot go.
  api = await openApi({
    'data-dir': join(disk, 'data'),
    jumpbox: { enabled: true, port: sshPort, host: '127.0.0.1', banner: '' },
  });
  catalog = await cpuCatalog(api.admin, {
    prefix: 'full',
    dockerAddress: `tcp://${plain.host}:${plain.port}`,
    bashImage: images.bash,
  });
  // Filled to the last page: dd ends on ENOSPC, which is the point.
  await run('dd', ['if=/dev/zero', `of=${join(disk, 'filler')}`, 'bs=4k']).catch(() => {});
  await expect(writeFile(join(disk, 'probe'), 'x'.repeat(8192))).rejects.toMatchObject({ code: 'ENOSPC' });
}, 120_000);

afterAll(async () => {
  await api?.close();
  await run('umount', [disk]).catch(() => run('umount', ['-l', disk]));
  await rm(disk, { recursive: true, force: true });
});

async function running(name: string): Promise<string> {
  const { id } = await api.admin.instances.create.mutate({
    name,
    imageId: catalog.imageId,
    specId: catalog.specId,
  });
  let last: unknown;
  // Long enough for a create on a loaded machine; the last state seen is said when it never runs.
  await until(
    `${name} to run`,
    async () => {
      const r = await api.admin.instances.get.query({ instanceId: id });
      last = r;
      return r.observed === 'running';
    },
    120_000,
  ).catch((err: Error) => {
    throw new Error(`${err.message}; last seen ${JSON.stringify(last)}`);
  });
  return id;
}

describe('the data folder full', () => {
  it('the API goes on answering: the instance list, and a create that runs', async () => {
    const id = await running('made-on-full-disk');
    const list = await api.admin.instances.list.query({});
    expect(list.items.map((i) => i.instanceId)).toContain(id);
  }, 150_000);

  it('a terminal session through the jumpbox still works and is recorded (recordings live in PostgreSQL)', async () => {
    const id = await running('recorded-on-full-disk');
    const r = await new Promise<number | null>((resolve) => {
      const child = spawn(
        'env',
        [
          'TERM=xterm',
          'python3',
          DRIVE,
          JSON.stringify([
            { size: [24, 80] },
            { expect: '# ' },
            { send: 'echo full-$((6*7))\r' },
            { expect: 'full-42' },
            { send: 'exit\r' },
          ]),
          'sshpass',
          '-p',
          'admin-password',
          'ssh',
          '-tt',
          ...sshClientOptions(sshPort),
          'admin+recorded-on-full-disk@127.0.0.1',
        ],
        { stdio: 'ignore' },
      );
      child.on('close', resolve);
    });
    expect(r).toBe(0);
    const [recording] = await until('the recording', async () => {
      const l = await api.admin.instances.recordings.query({ instanceId: id });
      return l.length > 0 ? l : null;
    });
    const { cast } = await api.admin.instances.recording.query({
      instanceId: id,
      recordingId: recording!.recordingId,
    });
    expect(cast).toContain('full-42');
  }, 150_000);

  it('a new jumpbox host key cannot be kept: the start stops in plain words and leaves no cut key file behind', async () => {
    const dataDir = join(disk, 'data', 'other');
    const jumpbox = new Jumpbox(api.platform.services, {
      port: await freePort(),
      host: '127.0.0.1',
      hostKey: '',
      dataDir,
      banner: '',
      idleMinutes: 1,
    });
    const failed = await jumpbox.start().then(
      () => null,
      (err: unknown) => err,
    );
    expect(failed).toBeInstanceOf(DataDirWriteError);
    expect((failed as Error).message).toMatch(FULL_DISK);
    expect((failed as Error).message).toContain('host key');
    // A half-written key would read as damaged at every later start, with the disk freed or not.
    expect(await readdir(dataDir).catch(() => [])).not.toContain('ssh_host_ed25519_key');
    // The running jumpbox and API are untouched.
    expect((await api.admin.instances.list.query({})).total).toBeGreaterThan(0);
  });

  it('`tianqi start` on the full disk prints what to do and exits 1, with no stack trace', async () => {
    const db = await createTestDatabase();
    try {
      const child = spawn(process.execPath, [BIN, 'start'], {
        env: {
          ...process.env,
          PORT: String(await freePort()),
          TIANQI_JUMPBOX_PORT: String(await freePort()),
          DATABASE_URL: db.url,
          TIANQI_DATA_DIR: join(disk, 'data', 'cli'),
          TIANQI_SECRETS_KEY: '',
          TIANQI_DOCKER_LOCAL_SOCKET: '',
          TIANQI_LOG_LEVEL: 'warn',
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr.on('data', (d: Buffer) => {
        stderr += d.toString();
      });
      child.stdout.resume();
      const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
      expect(code).toBe(1);
      expect(stderr).toMatch(FULL_DISK);
      expect(stderr).toContain('secret');
      expect(stderr).not.toMatch(/\n\s+at /);
    } finally {
      await db.drop();
    }
  }, 60_000);
});
