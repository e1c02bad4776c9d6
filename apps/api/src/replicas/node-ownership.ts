import { LeaseLost } from './lease-lost.js';

/**
 * Per-node work that runs only on the replica holding the node's lease: its reconciler work, its
 * sync, and anything else per node (an event follower) plugs in here.
 */
export interface NodeWork {
  /** This server now owns the node: begin its work. */
  startNode(nodeId: string): void | Promise<void>;
  /** It no longer does: resolve once nothing more is done there (in-flight Docker calls ended). */
  stopNode(nodeId: string): Promise<void>;
}

/** The lease of a node's work. */
export const nodeLease = (nodeId: string) => `node:${nodeId}`;

/**
 * Which nodes this server acts on, and the one hook that starts and stops every per-node work as
 * the node's lease comes and goes. `fenceOf` answers a held lease's fence (null: not held).
 */
export class NodeOwnership {
  readonly #parts: NodeWork[] = [];
  readonly #owned = new Set<string>();

  constructor(private readonly fenceOf: (lease: string) => string | null) {}

  /** Plugs per-node work in; it is started at once on the nodes owned now. */
  async add(part: NodeWork): Promise<void> {
    this.#parts.push(part);
    for (const nodeId of this.#owned) await part.startNode(nodeId);
  }

  owns(nodeId: string): boolean {
    return this.#owned.has(nodeId) && this.fenceOf(nodeLease(nodeId)) !== null;
  }

  /** The fence for writes about this node; throws LeaseLost when this server may not act on it. */
  fence(nodeId: string): string {
    const fence = this.#owned.has(nodeId) ? this.fenceOf(nodeLease(nodeId)) : null;
    if (fence === null) throw new LeaseLost(nodeLease(nodeId));
    return fence;
  }

  get owned(): string[] {
    return [...this.#owned].filter((id) => this.owns(id));
  }

  async acquired(nodeId: string): Promise<void> {
    this.#owned.add(nodeId);
    for (const part of this.#parts) await part.startNode(nodeId);
  }

  /** Marked not owned first (what runs stops at its next step), then every part is stopped. */
  async lost(nodeId: string): Promise<void> {
    if (!this.#owned.delete(nodeId)) return;
    await Promise.all(this.#parts.map((part) => part.stopNode(nodeId)));
  }
}
