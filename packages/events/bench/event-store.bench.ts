/**
 * Event store benchmark: append throughput (1, 8, 32 writers; many streams and one hot stream),
 * readAll throughput over 200,000 events, and subscription lag, each beside the same work done with
 * plain SQL on the same server as the physical reference. `npm run bench -- --json` writes
 * bench/results/event-store.json.
 *
 * Uses TIANQI_BENCH_DATABASE_URL when set, else a private stock PostgreSQL (durable commits).
 */
import { fileURLToPath } from 'node:url';
import { BenchReport, openBenchDatabase, percentile, timed as timedFor } from '@tianqi/infra';
import type pg from 'pg';
import { z } from 'zod';
import {
  ConcurrencyError,
  createPool,
  defineEvents,
  EventStore,
  eventStoreMigrations,
  migrate,
  retryOnConflict,
  START,
  type StoredEvent,
} from '../src/index.js';

const SECONDS = Number(process.env.TIANQI_BENCH_SECONDS ?? 4);
// The append figures are each the median of this many runs, each run beside its own plain INSERT
// reference measured just before it (the machine's speed drifts between runs more than within one).
const RUNS = Number(process.env.TIANQI_BENCH_APPEND_RUNS ?? 5);
const READ_EVENTS = Number(process.env.TIANQI_BENCH_READ_EVENTS ?? 200_000);
const registry = defineEvents({
  InstanceStarted: z.object({ instanceId: z.string(), nodeId: z.string(), seq: z.number(), at: z.number() }),
});
type Store = EventStore<typeof registry.schemas>;
const payload = (seq: number) => ({ instanceId: `inst-${seq % 997}`, nodeId: 'node-1', seq, at: Date.now() });
const metadata = { actorUserId: 'user-1', actorIp: '127.0.0.1', correlationId: 'bench' };

const median = (xs: number[]) =>
  percentile(
    [...xs].sort((a, b) => a - b),
    50,
  );
const timed = (workers: number, op: Parameters<typeof timedFor>[2]) => timedFor(workers, SECONDS, op);

async function appendManyStreams(store: Store, writers: number, tag: string): Promise<number> {
  const versions = new Map<string, number>();
  return timed(writers, async (w, i) => {
    const stream = `${tag}-w${w}-s${i % 50}`;
    const v = versions.get(stream) ?? 0;
    await store.append(stream, v === 0 ? 'no_stream' : v, [{ type: 'InstanceStarted', data: payload(i) }], {
      metadata,
    });
    versions.set(stream, v + 1);
    return true;
  });
}

async function appendHotStream(
  store: Store,
  writers: number,
  tag: string,
): Promise<{ rate: number; conflicts: number }> {
  let known = 0;
  let conflicts = 0;
  const rate = await timed(writers, async (_w, i) => {
    // A command handler's loop: append at the version it knows, and after a conflict learn the
    // stream's version from the error and try again after a jittered backoff.
    await retryOnConflict(
      async (attempt) => {
        if (attempt > 1) conflicts++;
        try {
          const r = await store.append(
            tag,
            known === 0 ? 'no_stream' : known,
            [{ type: 'InstanceStarted', data: payload(i) }],
            {
              metadata,
            },
          );
          known = Math.max(known, r.streams[0]!.toVersion);
        } catch (err) {
          if (err instanceof ConcurrencyError) known = Math.max(known, err.actual);
          throw err;
        }
      },
      { attempts: 1000 },
    );
    return true;
  });
  return { rate, conflicts };
}

async function plainInserts(pool: pg.Pool, writers: number, run: number): Promise<number> {
  return timed(writers, async (w, i) => {
    await pool.query(
      'INSERT INTO bench_plain (stream_id, stream_version, type, data, metadata) VALUES ($1, $2, $3, $4, $5)',
      [
        `plain-r${run}-w${w}-s${i % 50}`,
        i,
        'InstanceStarted',
        JSON.stringify(payload(i)),
        JSON.stringify(metadata),
      ],
    );
    return true;
  });
}

async function fillForRead(store: Store, total: number): Promise<void> {
  const have = Number((await store.pool.query('SELECT count(*) AS n FROM events')).rows[0].n);
  for (let done = have, b = 0; done < total; b++) {
    const n = Math.min(1000, total - done);
    await store.append(
      `fill-${b}`,
      'no_stream',
      Array.from({ length: n }, (_, i) => ({ type: 'InstanceStarted' as const, data: payload(i) })),
      {
        metadata,
      },
    );
    done += n;
  }
}

async function measureLag(writer: Store, follower: Store, count: number): Promise<number[]> {
  const sent = new Map<number, number>();
  const lags: number[] = [];
  let resolveDone!: () => void;
  const done = new Promise<void>((r) => {
    resolveDone = r;
  });
  const sub = follower.subscribe({
    from: await follower.head(),
    handle: (events: StoredEvent<typeof registry.schemas>[]) => {
      const now = performance.now();
      for (const e of events) {
        const t = sent.get(e.data.seq);
        if (e.streamId.startsWith('lag-') && t !== undefined) lags.push(now - t);
      }
      if (lags.length >= count) resolveDone();
    },
  });
  await sub.caughtUp;
  for (let i = 0; i < count; i++) {
    sent.set(i, performance.now());
    await writer.append(`lag-${i % 20}`, 'any', [{ type: 'InstanceStarted', data: payload(i) }], {
      metadata,
    });
    await new Promise((r) => setTimeout(r, 2)); // a steady stream, not a burst
  }
  await done;
  await sub.stop();
  return lags.sort((a, b) => a - b);
}

async function main(): Promise<void> {
  const report = new BenchReport('event-store');
  const db = await openBenchDatabase();
  const pool = createPool(db.url, { max: 40 });
  const store = new EventStore({ pool, registry });
  const otherPool = createPool(db.url, { max: 4 });
  const other = new EventStore({ pool: otherPool, registry });
  try {
    await migrate(pool, [eventStoreMigrations]);
    await pool.query(`CREATE TABLE bench_plain (
      id bigserial PRIMARY KEY, stream_id text NOT NULL, stream_version int NOT NULL, type text NOT NULL,
      data jsonb NOT NULL, metadata jsonb NOT NULL, recorded_at timestamptz NOT NULL DEFAULT now())`);
    console.error(
      `event-store benchmark: ${SECONDS}s per figure, PostgreSQL ${(await pool.query('SHOW server_version')).rows[0].server_version}`,
    );

    for (const writers of [1, 8, 32]) {
      const runs: { plain: number; ours: number; ratio: number }[] = [];
      for (let run = 0; run < RUNS; run++) {
        const plain = await plainInserts(pool, writers, run);
        const ours = await appendManyStreams(store, writers, `many${writers}-r${run}`);
        runs.push({ plain, ours, ratio: ours / plain });
      }
      console.error(
        `  ${writers} writer(s), ${RUNS} runs: append/plain INSERT ${runs.map((r) => `${Math.round(r.ours)}/${Math.round(r.plain)}`).join(', ')}`,
      );
      const ratios = runs.map((r) => r.ratio).sort((a, b) => a - b);
      const ratio = median(ratios);
      const spread = `${ratios[0]!.toFixed(2)}–${ratios.at(-1)!.toFixed(2)}`;
      report.add({
        name: `append, many streams, ${writers} writer${writers > 1 ? 's' : ''}`,
        unit: 'events/s',
        value: median(runs.map((r) => r.ours)),
        params: {
          writers,
          eventsPerAppend: 1,
          streams: writers * 50,
          seconds: SECONDS,
          runs: RUNS,
          ratios: spread,
        },
        // The ratio is the median of the runs' own ratios; the values are the medians of the runs.
        peer: { name: 'plain INSERT', value: median(runs.map((r) => r.plain)), ratio },
        ...(writers === 32 ? { target: { op: '>=' as const, value: 3500 } } : {}),
      });
      if (writers === 32) {
        report.add({
          name: 'append vs plain INSERT, 32 writers',
          unit: 'ratio',
          value: ratio,
          params: { writers, runs: RUNS, ratios: spread },
          target: { op: '>=', value: 0.7 },
        });
      }
    }
    for (const writers of [1, 8, 32]) {
      const hot = await appendHotStream(store, writers, `hot-${writers}`);
      report.add({
        name: `append, one hot stream, ${writers} writer${writers > 1 ? 's' : ''}, with retries`,
        unit: 'successes/s',
        value: hot.rate,
        params: {
          writers,
          eventsPerAppend: 1,
          seconds: SECONDS,
          conflictsRetried: hot.conflicts,
          retry: 'full jitter, 2 ms doubling to 100 ms',
        },
        ...(writers === 32 ? { target: { op: '>=' as const, value: 300 } } : {}),
      });
    }

    await fillForRead(store, READ_EVENTS);
    const total = Number((await pool.query('SELECT count(*) AS n FROM events')).rows[0].n);
    let t = performance.now();
    let read = 0;
    for (let from = START; ; ) {
      const page = await store.readAll(from, 5000);
      if (page.events.length === 0) break;
      read += page.events.length;
      from = page.next;
    }
    const ours = read / ((performance.now() - t) / 1000);
    t = performance.now();
    let raw = 0;
    for (let last = 0; ; ) {
      const { rows } = await pool.query(
        'SELECT position, stream_id, stream_version, type, data, metadata, recorded_at FROM events WHERE position > $1 ORDER BY position LIMIT 5000',
        [last],
      );
      if (rows.length === 0) break;
      raw += rows.length;
      last = Number(rows.at(-1).position);
    }
    const plainRead = raw / ((performance.now() - t) / 1000);
    report.add({
      name: `readAll over ${total.toLocaleString('en')} events`,
      unit: 'events/s',
      value: ours,
      params: { events: read, pageSize: 5000 },
      peer: { name: 'plain SELECT by position, no validation', value: plainRead, ratio: ours / plainRead },
      target: { op: '>=', value: 40_000 },
    });

    for (const [label, follower] of [
      ['same process (woken in it, paced to 5 ms under load)', store],
      ['other process (woken by NOTIFY)', other],
    ] as const) {
      const lags = await measureLag(store, follower, 2000);
      report.add({
        name: `subscription lag p50, ${label}`,
        unit: 'ms',
        value: percentile(lags, 50),
        params: { events: lags.length, from: 'append call to handler' },
      });
      report.add({
        name: `subscription lag p99, ${label}`,
        unit: 'ms',
        value: percentile(lags, 99),
        params: { events: lags.length, from: 'append call to handler' },
        target: { op: '<=', value: 20 },
      });
    }
  } finally {
    await store.close();
    await other.close();
    await pool.end();
    await otherPool.end();
    await db.drop();
  }
  report.finish(process.argv.slice(2), fileURLToPath(new URL('../../../', import.meta.url)));
}

main().catch((err: unknown) => {
  console.error(err);
  process.exitCode = 1;
});
