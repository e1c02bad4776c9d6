import { describe, expect, it } from 'vitest';
import { ConcurrencyError, EventValidationError, UnknownEventTypeError } from '../src/index.js';
import { deposit, useStore } from './fixtures.js';

const ctx = useStore();

const count = async (streamId: string) => ctx.store.streamVersion(streamId);

describe('append with expected versions', () => {
  it('creates a stream with no_stream, then appends at its exact version', async () => {
    const first = await ctx.store.append('acct-1', 'no_stream', [deposit(10), deposit(20)]);
    expect(first.streams[0]).toMatchObject({ streamId: 'acct-1', fromVersion: 1, toVersion: 2 });
    const second = await ctx.store.append('acct-1', 2, [deposit(5)]);
    expect(second.streams[0]).toMatchObject({ fromVersion: 3, toVersion: 3 });
    const events = await ctx.store.readStream('acct-1');
    expect(events.map((e) => [e.version, e.data])).toEqual([
      [1, { amount: 10 }],
      [2, { amount: 20 }],
      [3, { amount: 5 }],
    ]);
  });

  it('refuses no_stream on an existing stream and a stale version, writing nothing', async () => {
    await ctx.store.append('acct-2', 'no_stream', [deposit(1)]);
    await expect(ctx.store.append('acct-2', 'no_stream', [deposit(2)])).rejects.toBeInstanceOf(
      ConcurrencyError,
    );
    const stale = await ctx.store.append('acct-2', 0, [deposit(3)]).catch((e: unknown) => e);
    expect(stale).toBeInstanceOf(ConcurrencyError);
    expect(stale).toMatchObject({ code: 'conflict', streamId: 'acct-2', expected: '0', actual: 1 });
    expect(await count('acct-2')).toBe(1);
  });

  it('keeps its pooled connections through conflicts, so a busy stream retries cheaply', async () => {
    await ctx.store.append('acct-busy', 'no_stream', [deposit(1)]);
    await ctx.store.append('acct-busy', 1, [deposit(1)]);
    const before = ctx.store.pool.totalCount;
    for (let i = 0; i < 20; i++) {
      await expect(ctx.store.append('acct-busy', 1, [deposit(1)])).rejects.toBeInstanceOf(ConcurrencyError);
    }
    expect(ctx.store.pool.totalCount).toBe(before);
    expect(await count('acct-busy')).toBe(2);
  });

  it('appends at any version without a check', async () => {
    await ctx.store.append('acct-3', 'any', [deposit(1)]);
    await ctx.store.append('acct-3', 'any', [deposit(2)]);
    expect(await count('acct-3')).toBe(2);
  });

  it('appends to several streams atomically: one stale stream fails all of them', async () => {
    await ctx.store.append('node-a', 'no_stream', [deposit(1)]);
    const result = await ctx.store.appendMany([
      { streamId: 'inst-a', expectedVersion: 'no_stream', events: [deposit(7)] },
      { streamId: 'node-a', expectedVersion: 1, events: [deposit(8)] },
    ]);
    expect(result.streams.map((s) => [s.streamId, s.toVersion])).toEqual([
      ['inst-a', 1],
      ['node-a', 2],
    ]);

    await expect(
      ctx.store.appendMany([
        { streamId: 'inst-b', expectedVersion: 'no_stream', events: [deposit(7)] },
        { streamId: 'node-a', expectedVersion: 1, events: [deposit(8)] },
      ]),
    ).rejects.toMatchObject({ code: 'conflict', streamId: 'node-a', actual: 2 });
    expect(await count('inst-b')).toBe(0);
    expect(await count('node-a')).toBe(2);
  });

  it('keeps who, from where and why with every event', async () => {
    await ctx.store.append('acct-meta', 'no_stream', [deposit(1)], {
      commandId: 'cmd-meta-1',
      metadata: { actorUserId: 'user-7', actorIp: '203.0.113.9', causationId: 'cause-1' },
    });
    const [event] = await ctx.store.readStream('acct-meta');
    expect(event!.metadata).toEqual({
      actorUserId: 'user-7',
      actorIp: '203.0.113.9',
      commandId: 'cmd-meta-1',
      correlationId: 'cmd-meta-1',
      causationId: 'cause-1',
    });
    expect(event!.recordedAt).toBeInstanceOf(Date);
    expect(Math.abs(event!.recordedAt.getTime() - Date.now())).toBeLessThan(60_000);
  });
});

describe('idempotent commands', () => {
  it('a retried command id appends nothing new and returns the original result', async () => {
    const first = await ctx.store.append('acct-idem', 'no_stream', [deposit(100)], { commandId: 'cmd-42' });
    const retry = await ctx.store.append('acct-idem', 'no_stream', [deposit(100)], { commandId: 'cmd-42' });
    expect(first.duplicate).toBe(false);
    expect(retry.duplicate).toBe(true);
    expect(retry.streams).toEqual(first.streams);
    expect(retry.transactionId).toBe(first.transactionId);
    expect(await count('acct-idem')).toBe(1);
  });

  it('concurrent retries of one command append exactly once', async () => {
    const results = await Promise.all(
      Array.from({ length: 10 }, () =>
        ctx.store.append('acct-idem-2', 'any', [deposit(1)], { commandId: 'cmd-concurrent' }),
      ),
    );
    expect(results.filter((r) => !r.duplicate)).toHaveLength(1);
    expect(await count('acct-idem-2')).toBe(1);
  });

  it('a command that failed may be retried with the same id', async () => {
    await ctx.store.append('acct-idem-3', 'no_stream', [deposit(1)]);
    await expect(
      ctx.store.append('acct-idem-3', 'no_stream', [deposit(2)], { commandId: 'cmd-fails-first' }),
    ).rejects.toBeInstanceOf(ConcurrencyError);
    const retried = await ctx.store.append('acct-idem-3', 1, [deposit(2)], { commandId: 'cmd-fails-first' });
    expect(retried.duplicate).toBe(false);
    expect(await count('acct-idem-3')).toBe(2);
  });
});

describe('validation', () => {
  it('refuses an unknown event type, naming it, and writes nothing', async () => {
    const err = await ctx.store
      // @ts-expect-error: the type is not in the registry, which is the point
      .append('acct-v1', 'any', [{ type: 'Withdrawn', data: { amount: 1 } }])
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(UnknownEventTypeError);
    expect((err as Error).message).toContain('"Withdrawn"');
    expect(await count('acct-v1')).toBe(0);
  });

  it('refuses a bad payload, naming the event and the field', async () => {
    const err = await ctx.store.append('acct-v2', 'any', [deposit(-5)]).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(EventValidationError);
    expect((err as Error).message).toMatch(/invalid Deposited event for stream acct-v2: amount:/);
    expect(await count('acct-v2')).toBe(0);
  });

  it('checks events on read too: a row of an unknown type or a bad payload is named', async () => {
    await ctx.store.pool.query(
      `INSERT INTO events (stream_id, stream_version, type, data, metadata)
       VALUES ('acct-bad', 1, 'Deposited', '{"amount": "lots"}', '{}')`,
    );
    await expect(ctx.store.readStream('acct-bad')).rejects.toThrow(
      /invalid Deposited event at position \d+ \(stream acct-bad, version 1\): amount:/,
    );
    await ctx.store.pool.query(
      `INSERT INTO events (stream_id, stream_version, type, data, metadata)
       VALUES ('acct-bad2', 1, 'Teleported', '{}', '{}')`,
    );
    await expect(ctx.store.readStream('acct-bad2')).rejects.toThrow(
      /unknown event type "Teleported" at position/,
    );
  });

  it('refuses empty appends, bad stream ids and bad expected versions', async () => {
    await expect(ctx.store.append('acct-e', 'any', [])).rejects.toThrow(/no events/);
    await expect(ctx.store.append('has space', 'any', [deposit(1)])).rejects.toThrow(/invalid stream id/);
    await expect(ctx.store.append('acct-e', -1, [deposit(1)])).rejects.toThrow(/invalid expected version/);
  });

  it('never lets an event be updated or deleted', async () => {
    await ctx.store.append('acct-ro', 'no_stream', [deposit(1)]);
    await expect(
      ctx.store.pool.query(`UPDATE events SET data = '{}' WHERE stream_id = 'acct-ro'`),
    ).rejects.toThrow(/append-only/);
    await expect(ctx.store.pool.query(`DELETE FROM events WHERE stream_id = 'acct-ro'`)).rejects.toThrow(
      /append-only/,
    );
    await expect(ctx.store.pool.query('TRUNCATE events')).rejects.toThrow(/append-only/);
    expect(await count('acct-ro')).toBe(1);
  });
});
