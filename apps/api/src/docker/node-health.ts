import type { DockerStatus } from '@tianqi/domain';

/**
 * A node is marked failed only after two checks in a row fail, so one lost packet never makes the
 * platform give up on a node (and a failed node's containers are never touched because of it);
 * one good check marks it connected again.
 */
export class NodeHealth {
  readonly #failures = new Map<string, number>();

  constructor(private readonly failuresBeforeFailed = 2) {}

  /** The status to record after this check, or null to leave the recorded one as it is. */
  observe(nodeId: string, ok: boolean): DockerStatus | null {
    if (ok) {
      this.#failures.delete(nodeId);
      return 'connected';
    }
    const failures = (this.#failures.get(nodeId) ?? 0) + 1;
    this.#failures.set(nodeId, failures);
    return failures >= this.failuresBeforeFailed ? 'failed' : null;
  }
}
