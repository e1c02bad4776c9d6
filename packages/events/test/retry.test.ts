import { describe, expect, it } from 'vitest';
import { ConcurrencyError, retryOnConflict } from '../src/index.js';
import { deposit, useStore } from './fixtures.js';

const ctx = useStore();

describe('retrying a command after a conflict', () => {
  it('lets every one of many racing writers land, each re-reading the stream', async () => {
    await Promise.all(
      Array.from({ length: 12 }, () =>
        retryOnConflict(
          async () => ctx.store.append('race', await ctx.store.streamVersion('race'), [deposit(1)]),
          { attempts: 50 },
        ),
      ),
    );
    const events = await ctx.store.readStream('race');
    expect(events.map((e) => e.version)).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
  });

  it('gives up after its attempts with the last conflict, and does not retry other errors', async () => {
    await ctx.store.append('stuck', 'no_stream', [deposit(1)]);
    let tries = 0;
    await expect(
      retryOnConflict(
        () => {
          tries++;
          return ctx.store.append('stuck', 'no_stream', [deposit(1)]);
        },
        { attempts: 3, baseDelayMs: 1 },
      ),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    expect(tries).toBe(3);
    let otherTries = 0;
    await expect(
      retryOnConflict(() => {
        otherTries++;
        return Promise.reject(new Error('disk on fire'));
      }),
    ).rejects.toThrow('disk on fire');
    expect(otherTries).toBe(1);
  });
});
