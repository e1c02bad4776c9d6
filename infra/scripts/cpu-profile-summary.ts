/**
 * Where a process's CPU time went, from the `.cpuprofile` files `node --cpu-prof` writes: self time
 * by package (a node_modules package, one of ours, node's own, V8's GC and idle) and the heaviest
 * functions. Used for the benches' notes (`TIANQI_BENCH_API_NODE_ARGS=--cpu-prof …`).
 *
 *   npx tsx infra/scripts/cpu-profile-summary.ts FILE.cpuprofile [--top=25] [--window=FROM-TO]
 *
 * `--window=40-60`: only the samples from 40 s to 60 s after the profile began (one phase of a bench).
 */
import { readFileSync } from 'node:fs';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** `node_modules/@trpc/server/…` → @trpc/server; our own workspaces by folder; node's by name. */
function packageOf(url: string, fn: string): string {
  if (!url) return fn.startsWith('(') ? fn : '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const rest = url.slice(nm + 'node_modules/'.length).split('/');
    const name = rest[0]!.startsWith('@') ? `${rest[0]}/${rest[1]}` : rest[0]!;
    return name.startsWith('@tianqi/') ? `ours: ${name}` : name;
  }
  if (url.startsWith('node:')) return `node: ${url.slice(5).split('/')[0]}`;
  const ours = /\/(apps\/[^/]+|packages\/[^/]+|infra)\//.exec(url);
  return ours ? `ours: ${ours[1]}` : url;
}

const file = process.argv[2];
if (!file) throw new Error('usage: cpu-profile-summary FILE.cpuprofile [--top=N]');
const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice(6) ?? 25);
const profile = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(profile.nodes.map((n) => [n.id, n]));
// Self time per node from the samples and the time between them (hitCount ignores the deltas).
const window = process.argv
  .find((a) => a.startsWith('--window='))
  ?.slice(9)
  .split('-')
  .map(Number);
const [from, to] = window ? [window[0]! * 1000, window[1]! * 1000] : [0, Number.POSITIVE_INFINITY];
const self = new Map<number, number>();
let at = 0;
for (let i = 0; i < profile.samples.length; i++) {
  const id = profile.samples[i]!;
  const delta = (profile.timeDeltas[i] ?? 0) / 1000;
  at += delta;
  if (at >= from && at <= to) self.set(id, (self.get(id) ?? 0) + delta);
}
const wall = Math.min(to, (profile.endTime - profile.startTime) / 1000) - from;
const packages = new Map<string, number>();
const functions = new Map<string, number>();
let busy = 0;
for (const [id, ms] of self) {
  const { functionName, url, lineNumber } = byId.get(id)!.callFrame;
  const pkg = packageOf(url, functionName);
  packages.set(pkg, (packages.get(pkg) ?? 0) + ms);
  if (functionName !== '(idle)') busy += ms;
  const where = url
    ? `${url.replace(/^.*node_modules\//, '').replace(/^file:\/\/.*?\/(apps|packages|infra)\//, '$1/')}:${lineNumber + 1}`
    : '';
  const key = `${functionName || '(anonymous)'} ${where}`;
  functions.set(key, (functions.get(key) ?? 0) + ms);
}
const rows = (m: Map<string, number>) => [...m].sort((a, b) => b[1] - a[1]).slice(0, top);
const pct = (ms: number) => `${((ms / busy) * 100).toFixed(1)}%`.padStart(6);
console.log(
  `${file}: ${(wall / 1000).toFixed(1)} s of wall time, ${(busy / 1000).toFixed(1)} s busy (not idle)`,
);
console.log('\nself time by package (of busy)');
for (const [name, ms] of rows(packages))
  if (name !== '(idle)') console.log(`${pct(ms)} ${(ms / 1000).toFixed(2).padStart(7)} s  ${name}`);
console.log('\nheaviest functions, self time (of busy)');
for (const [name, ms] of rows(functions))
  if (!name.startsWith('(idle)')) console.log(`${pct(ms)} ${(ms / 1000).toFixed(2).padStart(7)} s  ${name}`);
