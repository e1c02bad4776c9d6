import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { createTestDatabase } from './databases.js';
import { startThrowawayPostgres } from './postgres.js';

/** One benchmark figure, as written to bench/results/<name>.json. */
export interface BenchRow {
  name: string;
  unit: string;
  value: number;
  params: Record<string, string | number | boolean>;
  /** The same figure for the reference it is compared with, measured in the same run. */
  peer?: { name: string; value: number; ratio: number };
  /** The goal from the issue, when there is one. */
  target?: { op: '>=' | '<='; value: number; of?: 'value' | 'ratio' };
}

export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))]!;
}

function met(row: BenchRow): string {
  if (!row.target) return '';
  const x = row.target.of === 'ratio' ? row.peer?.ratio : row.value;
  if (x === undefined) return '?';
  return (row.target.op === '>=' ? x >= row.target.value : x <= row.target.value) ? 'met' : 'NOT met';
}

const fmt = (n: number) => (Math.abs(n) >= 100 ? Math.round(n).toLocaleString('en') : n.toFixed(2));

/** Collects rows, prints them as a table, and with --json writes them to bench/results/<name>.json. */
export class BenchReport {
  readonly rows: BenchRow[] = [];
  constructor(readonly name: string) {}

  add(row: BenchRow): BenchRow {
    this.rows.push(row);
    const peer = row.peer
      ? `  (${row.peer.name}: ${fmt(row.peer.value)}, ratio ${row.peer.ratio.toFixed(2)})`
      : '';
    console.error(`  ${row.name}: ${fmt(row.value)} ${row.unit}${peer}`);
    return row;
  }

  finish(argv = process.argv.slice(2), repoRoot = process.env.TIANQI_REPO_ROOT ?? process.cwd()): void {
    const header = ['benchmark', 'value', 'unit', 'reference', 'ratio', 'target', ''];
    const lines = this.rows.map((r) => [
      r.name,
      fmt(r.value),
      r.unit,
      r.peer ? `${r.peer.name}: ${fmt(r.peer.value)}` : '',
      r.peer ? r.peer.ratio.toFixed(2) : '',
      r.target ? `${r.target.of === 'ratio' ? 'ratio ' : ''}${r.target.op} ${r.target.value}` : '',
      met(r),
    ]);
    const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
    const show = (cols: string[]) =>
      cols
        .map((c, i) => c.padEnd(widths[i]!))
        .join('  ')
        .trimEnd();
    console.log(`\n${this.name}`);
    console.log(show(header));
    console.log(show(widths.map((w) => '-'.repeat(w))));
    for (const l of lines) console.log(show(l));
    if (argv.includes('--json')) {
      const dir = join(repoRoot, 'bench', 'results');
      mkdirSync(dir, { recursive: true });
      const file = join(dir, `${this.name}.json`);
      writeFileSync(file, `${JSON.stringify(this.rows, null, 2)}\n`);
      console.log(`\nwrote ${file}`);
    }
  }
}

/**
 * A fresh database for a benchmark: on TIANQI_BENCH_DATABASE_URL's server when set, else on a private
 * stock PostgreSQL (durable commits) started here. `drop` removes the database and stops that server.
 */
export async function openBenchDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const server = process.env.TIANQI_BENCH_DATABASE_URL ? undefined : await startThrowawayPostgres();
  const db = await createTestDatabase(process.env.TIANQI_BENCH_DATABASE_URL ?? server!.url);
  return {
    url: db.url,
    drop: async () => {
      await db.drop();
      await server?.stop();
    },
  };
}
