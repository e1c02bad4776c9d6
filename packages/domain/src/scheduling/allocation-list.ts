import type { Allocation } from './types.js';

/**
 * What a node's allocation list adds up to and which instances it holds, worked out once per list and
 * carried forward when a list is made from another by one more allocation (what every create does): a
 * node's state gets a new list when its allocations change, and a busy node holds thousands, so
 * summing or searching the whole list on every create would make each create cost more than the last.
 * Lists are never changed in place, so what is known of one list stays true.
 */
export interface Used {
  cpuCores: number;
  memoryGb: number;
  systemDiskGb: number;
  dataDiskGb: number;
}

/** One GPU card: held whole by an instance, and how much of its VRAM is given out in slices (GB). */
export interface CardUse {
  readonly whole: boolean;
  readonly slicedVramGb: number;
}

interface Known {
  used: Used;
  /** Per card index, for the node's card count (worked out when first asked). */
  cards?: { gpuCount: number; use: readonly CardUse[] };
  /** The instances held: `base` is shared between lists (never changed), `added` is this list's own. */
  base: ReadonlySet<string>;
  added: readonly string[];
}

/** Ids kept beside the shared set before a new set is made: a search looks at most at this many. */
const ADDED_MAX = 64;

const known = new WeakMap<readonly Allocation[], Known>();

function knownOf(list: readonly Allocation[]): Known {
  let k = known.get(list);
  if (!k) {
    const used = { cpuCores: 0, memoryGb: 0, systemDiskGb: 0, dataDiskGb: 0 };
    for (const a of list) add(used, a);
    k = { used, base: new Set(list.map((a) => a.instanceId)), added: [] };
    known.set(list, k);
  }
  return k;
}

function add(used: Used, a: Allocation): void {
  used.cpuCores += a.cpuCores;
  used.memoryGb += a.memoryGb;
  used.systemDiskGb += a.systemDiskGb;
  used.dataDiskGb += a.dataDiskGb;
}

/** CPU, memory and disks the list's allocations take. */
export function usedBy(list: readonly Allocation[]): Used {
  return knownOf(list).used;
}

/** Per card index of a node with `gpuCount` cards: is it held whole, and how much of it is sliced. */
export function cardUseOf(list: readonly Allocation[], gpuCount: number): readonly CardUse[] {
  const k = knownOf(list);
  if (k.cards?.gpuCount === gpuCount) return k.cards.use;
  const use = Array.from({ length: gpuCount }, () => ({ whole: false, slicedVramGb: 0 }));
  for (const a of list) onCards(use, a);
  k.cards = { gpuCount, use };
  return use;
}

function onCards(cards: { whole: boolean; slicedVramGb: number }[], a: Allocation): void {
  if (a.gpus.kind === 'none') return;
  for (const i of a.gpus.indices) {
    const card = cards[i];
    if (!card) continue; // an index past the node's declared count: the node shrank; ignore
    if (a.gpus.kind === 'whole') card.whole = true;
    else card.slicedVramGb += a.gpus.vramGb;
  }
}

/** Whether the list holds an allocation for this instance. */
export function holdsAllocation(list: readonly Allocation[], instanceId: string): boolean {
  const k = knownOf(list);
  return k.base.has(instanceId) || k.added.includes(instanceId);
}

/** A new list: `list` and one more allocation, with what is known of `list` carried forward. */
export function withAllocation(list: readonly Allocation[], allocation: Allocation): Allocation[] {
  const next = [...list, allocation];
  const k = known.get(list);
  if (k) {
    const used = { ...k.used };
    add(used, allocation);
    const added = [...k.added, allocation.instanceId];
    const ids =
      added.length <= ADDED_MAX
        ? { base: k.base, added }
        : { base: new Set([...k.base, ...added]), added: [] };
    let cards: Known['cards'];
    if (k.cards) {
      const use = k.cards.use.map((c) => ({ ...c }));
      onCards(use, allocation);
      cards = { gpuCount: k.cards.gpuCount, use };
    }
    known.set(next, { used, ...ids, ...(cards ? { cards } : {}) });
  }
  return next;
}
