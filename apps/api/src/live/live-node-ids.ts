import { liveNodeIds, type ProjectionRunner } from '@tianqi/projections';
import type pg from 'pg';

/** The events that add a node to the scheduler's list or take one off it. */
const LISTING = new Set(['NodeRegistered', 'NodeDeleted']);

/**
 * The nodes the scheduler considers, read from the nodes read model once and again only after a node
 * is registered or deleted: every create asked for them (a query per create), though the list changes
 * a few times a year. The runner calls its listeners before a mutation waiting for the batch is
 * answered, so a node registered is in the list the next create reads.
 */
export function cachedLiveNodeIds(pool: pg.Pool, runner: ProjectionRunner): () => Promise<string[]> {
  let cached: Promise<string[]> | null = null;
  runner.onApplied((events) => {
    if (events.some((e) => LISTING.has(e.type))) cached = null;
  });
  return () => {
    if (cached) return cached;
    const read = liveNodeIds(pool);
    cached = read;
    // A failed read is not kept.
    read.catch(() => {
      if (cached === read) cached = null;
    });
    return read;
  };
}
