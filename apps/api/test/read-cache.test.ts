import type { ProjectionRunner } from '@tianqi/projections';
import { describe, expect, it } from 'vitest';
import { ReadCache } from '../src/live/read-cache.js';

describe('read cache', () => {
  // The runner's stamp moves with every committed stage of a batch (the instances read model is
  // written before the others), not only once the whole batch is in.
  const runner = { stamp: '1' };
  const cache = new ReadCache(runner as unknown as ProjectionRunner);

  it('answers again from memory while the read models stay put, and asks again once they move', async () => {
    let queries = 0;
    const query = async () => ++queries;
    expect(await cache.get('k', query)).toBe(1);
    expect(await cache.get('k', query)).toBe(1);
    runner.stamp = '2';
    expect(await cache.get('k', query)).toBe(2);
    expect(await cache.get('other', query)).toBe(3);
  });

  it('does not keep a failed query', async () => {
    await expect(cache.get('bad', async () => Promise.reject(new Error('down')))).rejects.toThrow('down');
    expect(await cache.get('bad', async () => 'fine')).toBe('fine');
  });
});
