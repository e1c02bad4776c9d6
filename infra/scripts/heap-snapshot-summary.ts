/**
 * What a process's JS heap holds, from a `.heapsnapshot` (`node --heapsnapshot-signal=SIGUSR2`, then
 * `kill -USR2 PID`): self size and count by kind and constructor, the biggest first. Self sizes only
 * (no retained sizes): enough to see which kind of object fills the heap.
 *
 *   npx tsx infra/scripts/heap-snapshot-summary.ts FILE.heapsnapshot [--top=30]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

const file = process.argv[2];
if (!file) throw new Error('usage: heap-snapshot-summary FILE.heapsnapshot [--top=N]');
const top = Number(process.argv.find((a) => a.startsWith('--top='))?.slice(6) ?? 30);
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const fields = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const [TYPE, NAME, SIZE] = ['type', 'name', 'self_size'].map((f) => fields.indexOf(f)) as [
  number,
  number,
  number,
];
const width = fields.length;
const groups = new Map<string, { size: number; count: number }>();
let total = 0;
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + TYPE]!]!;
  const size = snap.nodes[i + SIZE]!;
  total += size;
  // Objects by constructor; strings, code, arrays and the rest by kind (their names are contents).
  const key =
    type === 'object' || type === 'closure' ? `${type} ${snap.strings[snap.nodes[i + NAME]!]}` : type;
  const g = groups.get(key) ?? { size: 0, count: 0 };
  g.size += size;
  g.count++;
  groups.set(key, g);
}
console.log(
  `${file}: ${(total / 2 ** 20).toFixed(1)} MB in ${(snap.nodes.length / width).toLocaleString('en')} objects`,
);
for (const [key, g] of [...groups].sort((a, b) => b[1].size - a[1].size).slice(0, top)) {
  console.log(
    `${((g.size / total) * 100).toFixed(1).padStart(5)}% ${(g.size / 2 ** 20).toFixed(1).padStart(7)} MB ${g.count.toLocaleString('en').padStart(11)}  ${key}`,
  );
}
