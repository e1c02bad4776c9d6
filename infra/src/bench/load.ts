import type autocannon from 'autocannon';
import { percentile } from '../bench.js';

/** What one HTTP load run measured, closed-loop (autocannon) or paced. */
export interface Measured {
  latency: { p50: number; p99: number; mean: number; max: number };
  requests: number;
  ok: number;
  /** Status code → count, non-2xx included. */
  codes: Record<string, number>;
  /** Connection errors and timeouts. */
  errors: number;
  seconds: number;
}

/**
 * Closed loop in process: `workers` loops of `op` for `seconds`, each starting its next op as soon as
 * the last resolved; returns successes per second (an op counts unless it resolves to false).
 */
export async function timed(
  workers: number,
  seconds: number,
  op: (worker: number, i: number) => Promise<unknown>,
): Promise<number> {
  const deadline = performance.now() + seconds * 1000;
  const started = performance.now();
  let ok = 0;
  await Promise.all(
    Array.from({ length: workers }, async (_, w) => {
      for (let i = 0; performance.now() < deadline; i++) if ((await op(w, i)) !== false) ok++;
    }),
  );
  return ok / ((performance.now() - started) / 1000);
}

/**
 * Closed loop over HTTP (autocannon): `connections` clients, each sending its next request as soon as
 * the last is answered, for `duration` seconds.
 */
export async function saturate(options: autocannon.Options): Promise<Measured> {
  // Loaded on first use: tests and benches that never call this import the kit too, and autocannon
  // adds ~25 MB and half a second to a process (the flood bench measures its own RSS).
  const { default: run } = await import('autocannon');
  const r = await run(options);
  return {
    latency: { p50: r.latency.p50, p99: r.latency.p99, mean: r.latency.mean, max: r.latency.max },
    requests: r.requests.total,
    ok: r['2xx'],
    codes: Object.fromEntries(Object.entries(r.statusCodeStats ?? {}).map(([c, v]) => [c, v.count ?? 0])),
    errors: r.errors,
    seconds: r.duration,
  };
}

export type SaturateOptions = autocannon.Options;

/**
 * Paced: `rate` GETs a second for `seconds`, evenly spaced, from at most `connections` clients at
 * once. Each latency counts from when the request was due, so a request held back because every
 * client was still waiting counts its wait (autocannon's own rate limit sends each second's requests
 * in a burst, and would hide it).
 */
export async function pace(
  url: string,
  headers: Record<string, string>,
  options: { rate: number; seconds: number; connections: number; timeoutMs?: number },
): Promise<Measured> {
  const { rate, seconds, connections, timeoutMs = 10_000 } = options;
  const total = Math.round(rate * seconds);
  const started = performance.now();
  const latencies: number[] = [];
  const codes: Record<string, number> = {};
  let errors = 0;
  let inFlight = 0;
  let freed: (() => void) | undefined;
  const running: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = started + (i * 1000) / rate;
    if (due > performance.now()) await new Promise((r) => setTimeout(r, due - performance.now()));
    while (inFlight >= connections) await new Promise<void>((resolve) => (freed = resolve));
    inFlight++;
    running.push(
      (async () => {
        try {
          const res = await fetch(url, { headers, signal: AbortSignal.timeout(timeoutMs) });
          await res.arrayBuffer();
          codes[res.status] = (codes[res.status] ?? 0) + 1;
        } catch {
          errors++;
        } finally {
          latencies.push(performance.now() - due);
          inFlight--;
          freed?.();
        }
      })(),
    );
  }
  await Promise.all(running);
  const sorted = latencies.sort((a, b) => a - b);
  const ok = Object.entries(codes).reduce((sum, [c, n]) => sum + (c.startsWith('2') ? n : 0), 0);
  return {
    latency: {
      p50: percentile(sorted, 50),
      p99: percentile(sorted, 99),
      mean: sorted.reduce((a, b) => a + b, 0) / Math.max(1, sorted.length),
      max: sorted.at(-1) ?? Number.NaN,
    },
    requests: sorted.length,
    ok,
    codes,
    errors,
    seconds: (performance.now() - started) / 1000,
  };
}
