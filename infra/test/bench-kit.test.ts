import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import {
  machineBusyMs,
  machineTicks,
  pace,
  processCpuMs,
  processMemoryMb,
  StandInDockerEngine,
  saturate,
} from '../src/index.js';

describe('the stand-in Docker engine', () => {
  it('answers dockerode: create, start, list by label, inspect, stats, info, disk usage; counts what it does not know', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'tianqi-stand-in-'));
    const engine = new StandInDockerEngine(join(dir, 'engine.sock'), 'x.instance');
    await engine.listen();
    try {
      const docker = new Docker({ socketPath: engine.socketPath });
      expect((await docker.version()).ApiVersion).toBe('1.47');
      const made = await docker.createContainer({
        name: 'one',
        Image: 'busybox',
        Labels: { 'x.instance': 'a' },
      });
      await made.start();
      engine.add({
        Id: 'b'.repeat(64),
        Names: ['/two'],
        Image: 'busybox',
        State: 'running',
        Status: 'Up 2 hours',
        Created: 0,
        Labels: { 'x.instance': 'b' },
      });
      const listed = await docker.listContainers({ all: true, filters: { label: ['x.instance=a'] } });
      expect(listed.map((c) => c.Names[0])).toEqual(['/one']);
      expect(await docker.listContainers({ all: true, filters: { label: ['x.instance'] } })).toHaveLength(2);
      expect((await made.inspect()).State.Running).toBe(true);
      const stats = await docker.getContainer('b'.repeat(64)).stats({ stream: false });
      expect(stats.memory_stats.usage).toBeGreaterThan(0);
      // What the sync asks of every node: its storage driver and its disk usage, a size per container.
      expect((await docker.info()).Driver).toBe('overlay2');
      const df = (await docker.df()) as { Containers: { Id: string; SizeRw: number }[] };
      expect(df.Containers.map((c) => c.Id).sort()).toEqual([made.id, 'b'.repeat(64)].sort());
      await expect(docker.listImages()).rejects.toThrow(/does not answer GET \/images\/json/);
      expect(engine.unknownCalls()).toEqual([['unknown: GET /images/json', 1]]);
      expect(engine.calls.get('POST /containers/create')).toBe(1);
    } finally {
      await engine.close();
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('the /proc readers', () => {
  it('read this process and the machine', () => {
    const cpu = processCpuMs(process.pid);
    const ticks = machineTicks();
    for (let x = 0, t = performance.now(); performance.now() - t < 100; x++) x ^= x << 1;
    expect(processCpuMs(process.pid)).toBeGreaterThanOrEqual(cpu);
    expect(machineTicks().total).toBeGreaterThan(ticks.total);
    expect(machineBusyMs()).toBeGreaterThan(0);
    const memory = processMemoryMb(process.pid);
    expect(memory.rss).toBeGreaterThan(10);
    expect(memory.peak).toBeGreaterThanOrEqual(memory.rss);
  });
});

describe('the load runners', () => {
  it('pace spreads its requests over the time asked; saturate keeps every client busy', async () => {
    const server = createServer((req, res) => res.writeHead(req.url === '/bad' ? 503 : 200).end('ok'));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
    try {
      const paced = await pace(`${url}/`, {}, { rate: 40, seconds: 0.5, connections: 4 });
      expect(paced.requests).toBe(20);
      expect(paced.ok).toBe(20);
      expect(paced.seconds).toBeGreaterThanOrEqual(0.45);
      const failing = await pace(`${url}/bad`, {}, { rate: 20, seconds: 0.25, connections: 2 });
      expect(failing.codes).toEqual({ '503': 5 });
      expect(failing.ok).toBe(0);
      const closed = await saturate({ url, connections: 2, duration: 1 });
      expect(closed.ok).toBeGreaterThan(20);
      expect(closed.ok).toBe(closed.codes['200']);
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
