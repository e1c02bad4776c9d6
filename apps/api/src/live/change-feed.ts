import { EventEmitter, on } from 'node:events';
import type { GlobalPosition } from '@tianqi/events';
import type { ProjectionRunner } from '@tianqi/projections';

export interface Change {
  /** Instances with new events in this batch, now in the read models. */
  instanceIds: ReadonlySet<string>;
  /** The last event of the batch: where a client that reconnects resumes from. */
  position: GlobalPosition;
}

const INSTANCE = 'instance-';

/**
 * What changed, told after the read models have it: subscriptions re-read the rows and push them.
 * One listener on the projection runner, fanned out to every open subscription in this process.
 */
export class ChangeFeed {
  readonly #emitter = new EventEmitter();
  /** Aborted at shutdown: every open subscription ends, instead of holding the server open. */
  readonly #closing = new AbortController();
  readonly #detach: () => void;

  constructor(runner: ProjectionRunner) {
    this.#emitter.setMaxListeners(0);
    this.#detach = runner.onApplied((events) => {
      const last = events.at(-1);
      if (!last) return;
      const instanceIds = new Set<string>();
      for (const e of events)
        if (e.streamId.startsWith(INSTANCE)) instanceIds.add(e.streamId.slice(INSTANCE.length));
      const change: Change = {
        instanceIds,
        position: { transactionId: last.transactionId, position: last.position },
      };
      this.#emitter.emit('change', change);
    });
  }

  /**
   * Changes from now until `signal` aborts (then it ends quietly). Listening starts at this call, not
   * at the first read, so a caller can read the current rows in between and miss nothing.
   */
  changes(caller: AbortSignal): AsyncIterable<Change> {
    const signal = AbortSignal.any([caller, this.#closing.signal]);
    const events = on(this.#emitter, 'change', { signal });
    return (async function* () {
      try {
        for await (const [change] of events) yield change as Change;
      } catch (err) {
        if (!signal.aborted) throw err;
      }
    })();
  }

  /** Shutting down: subscriptions end (see changes). */
  get closing(): AbortSignal {
    return this.#closing.signal;
  }

  close(): void {
    this.#closing.abort();
    this.#detach();
    this.#emitter.removeAllListeners();
  }
}

/** "transactionId.position", the id a subscription's events carry. */
export const positionId = (p: GlobalPosition) => `${p.transactionId}.${p.position}`;

export function parsePositionId(id: string | null | undefined): GlobalPosition | null {
  const m = /^(\d{1,20})\.(\d{1,20})$/.exec(id ?? '');
  return m ? { transactionId: BigInt(m[1]!), position: BigInt(m[2]!) } : null;
}
