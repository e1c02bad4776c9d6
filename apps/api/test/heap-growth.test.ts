import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { boundHeapGrowth, SERVER_NODE_FLAGS } from '../src/start/heap-growth.js';

const read = (path: string) => readFileSync(new URL(path, import.meta.url), 'utf8');

describe('the server’s memory settings', () => {
  it('npm start gives node the server’s flags', () => {
    const start = JSON.parse(read('../package.json')).scripts.start as string;
    expect(start).toContain(`node ${SERVER_NODE_FLAGS.join(' ')} apps/api/bin/tianqi-server.js start`);
  });

  it('leaves the heap to flags of the person starting it', () => {
    expect(boundHeapGrowth(30, ['--max-old-space-size=512'], '')).toBe(false);
    expect(boundHeapGrowth(30, [], '--heap-growing-percent=50 --enable-source-maps')).toBe(false);
    expect(boundHeapGrowth(30, ['--max-semi-space-size=8'], '')).toBe(true);
  });

  it('keeps a churning heap near its live data where V8 alone lets it grow', () => {
    // The same work in two processes, one bounded as the server bounds itself: 150 MB live, garbage on top.
    const module = new URL('../src/start/heap-growth.ts', import.meta.url).href;
    const work = (bound: boolean) => {
      const script = `
        ${bound ? `const { boundHeapGrowth } = await import(${JSON.stringify(module)}); if (!boundHeapGrowth()) throw new Error('not bounded');` : ''}
        const live = [];
        for (let i = 0; i < 1.2e6; i++) live.push({ i, s: 'x' + i, a: [i, i + 1] });
        for (let r = 0; r < 40; r++) { const junk = []; for (let i = 0; i < 2e5; i++) junk.push({ r, i, s: 'y' + i }); }
        process.stdout.write(String(process.memoryUsage().heapTotal) + (live.length > 0 ? '' : '!'));`;
      const run = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
        encoding: 'utf8',
        env: { ...process.env, NODE_OPTIONS: '' },
      });
      if (run.status !== 0) throw new Error(run.stderr);
      return Number(run.stdout) / 2 ** 20;
    };
    const [alone, bounded] = [work(false), work(true)];
    expect(bounded, `${bounded} MB bounded, ${alone} MB alone`).toBeLessThan(alone * 0.8);
  }, 60_000);
});
