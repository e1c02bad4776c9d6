import { describe, expect, it } from 'vitest';
import { MetricsStore, type Sample } from '../src/sync/metrics.js';

const cpu = { cpu_usage: { total_usage: 0 } };
const sample = (at: number, over: Partial<Sample> = {}): Sample => ({
  at,
  cpuPercent: 12.5,
  memoryUsedBytes: 512 * 1024 ** 2,
  memoryLimitBytes: 1024 ** 3,
  memoryPercent: 50,
  networkRxBytes: 1000,
  networkTxBytes: 2000,
  blockReadBytes: 0,
  blockWriteBytes: 4096,
  pids: 3,
  gpuMemoryUsedMb: null,
  gpuMemoryTotalMb: 24_564,
  dataDiskUsedBytes: 3 * 1024 ** 3,
  systemDiskUsedBytes: null,
  ...over,
});

describe('resource samples kept in memory', () => {
  it('gives back what it was given (nulls too), newest last', () => {
    const store = new MetricsStore();
    store.add('i1', sample(1_000, { cpuPercent: null }), cpu);
    store.add('i1', sample(31_000), cpu);
    expect(store.series('i1')).toEqual([sample(1_000, { cpuPercent: null }), sample(31_000)]);
    expect(store.latest('i1')).toEqual(sample(31_000));
    expect(store.latest('other')).toBeNull();
  });

  it('keeps an hour, and at most its capacity', () => {
    const store = new MetricsStore(3_600_000, 10);
    for (let t = 0; t <= 2 * 3_600_000; t += 30_000) store.add('i1', sample(t), cpu);
    const series = store.series('i1');
    expect(series).toHaveLength(10);
    expect(series.at(-1)!.at).toBe(2 * 3_600_000);
    const store2 = new MetricsStore(60_000, 100);
    for (let t = 0; t <= 300_000; t += 30_000) store2.add('i1', sample(t), cpu);
    expect(store2.series('i1').map((s) => s.at)).toEqual([240_000, 270_000, 300_000]);
  });

  it('keeps times to the millisecond for as long as an instance runs, and across a clock set back', () => {
    const store = new MetricsStore();
    const start = Date.UTC(2026, 0, 1, 0, 0, 0, 123);
    const day = 86_400_000;
    // 30 days on: the times no longer fit the offsets the first one counted from.
    for (const at of [start, start + 30 * day, start + 30 * day + 30_001, start + 90 * day + 7]) {
      store.add('i1', sample(at), cpu);
    }
    expect(store.series('i1').map((s) => s.at)).toEqual([start + 90 * day + 7]);
    const store2 = new MetricsStore();
    store2.add('i1', sample(start + 30 * day), cpu);
    store2.add('i1', sample(start + 30 * day + 30_001), cpu);
    expect(store2.series('i1').map((s) => s.at)).toEqual([start + 30 * day, start + 30 * day + 30_001]);
    store2.add('i1', sample(start + 30 * day - 5_000), cpu); // the clock set back 35 s
    expect(store2.latest('i1')!.at).toBe(start + 30 * day - 5_000);
  });

  it('live samples every 5 s are thinned to one per 25 s in the history, the newest always shown', () => {
    const store = new MetricsStore();
    store.add('i1', sample(0), cpu); // a sync
    for (let t = 5_000; t <= 60_000; t += 5_000)
      store.add('i1', sample(t, { pids: t / 1000 }), cpu, { live: true });
    expect(store.latest('i1')!.pids).toBe(60);
    expect(store.series('i1').map((s) => s.at)).toEqual([0, 25_000, 50_000, 60_000]);
  });
});
