import { describe, expect, it } from 'vitest';
import { comparePositions, formatPosition, parsePosition, START } from '../src/index.js';
import { amountOf, deposit, useStore } from './fixtures.js';

const ctx = useStore();

describe('reading', () => {
  it('reads a stream up to a version or up to a moment', async () => {
    await ctx.store.append('acct-t', 'no_stream', [deposit(1), deposit(2)]);
    await new Promise((r) => setTimeout(r, 30));
    const middle = new Date();
    await new Promise((r) => setTimeout(r, 30));
    await ctx.store.append('acct-t', 2, [deposit(3)]);
    expect((await ctx.store.readStream('acct-t', { toVersion: 1 })).map(amountOf)).toEqual([1]);
    expect((await ctx.store.readStream('acct-t', { fromVersion: 2 })).map((e) => e.data)).toEqual([
      { amount: 2 },
      { amount: 3 },
    ]);
    expect((await ctx.store.readStream('acct-t', { until: middle })).map((e) => e.version)).toEqual([1, 2]);
    expect(await ctx.store.readStream('no-such-stream')).toEqual([]);
  });

  it('reads everything in global order, page by page, from any position', async () => {
    for (let i = 0; i < 25; i++) await ctx.store.append(`acct-g${i % 3}`, 'any', [deposit(i + 1)]);
    const all = [];
    let from = START;
    for (;;) {
      const page = await ctx.store.readAll(from, 7);
      if (page.events.length === 0) break;
      all.push(...page.events);
      from = page.next;
    }
    const amounts = all.filter((e) => e.streamId.startsWith('acct-g')).map(amountOf);
    expect(amounts).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    for (let i = 1; i < all.length; i++) expect(comparePositions(all[i - 1]!, all[i]!)).toBeLessThan(0);

    const middle = all[10]!;
    const rest = await ctx.store.readAll(middle, 1000);
    expect(rest.events[0]!.position).toBe(all[11]!.position);
    expect(await ctx.store.head()).toEqual({
      transactionId: all.at(-1)!.transactionId,
      position: all.at(-1)!.position,
    });
  });

  it('writes positions as text and reads them back', () => {
    const p = { transactionId: 812n, position: 99n };
    expect(parsePosition(formatPosition(p))).toEqual(p);
    expect(() => parsePosition('12')).toThrow(/not a global position/);
  });
});
