import type { EventSchemaMap } from '@tianqi/domain';
import { type AppendBatch, type AppendResult, type GlobalPosition, retryOnConflict } from '@tianqi/events';
import type { PlatformStore } from '@tianqi/projections';
import type { AggregateLoader } from './aggregates.js';
import { type CommandContext, commandKey, metadataOf } from './context.js';

export interface CommandResult {
  /** The id of the aggregate the command was about. */
  id: string;
  /** Its stream's version after the command (unchanged when the command changed nothing). */
  version: number;
  /** Where the command's last event is in the global order (null when it appended nothing). */
  position: GlobalPosition | null;
}

/**
 * Runs a command: `decide` loads what it needs and returns the appends (each with the version it read);
 * they are written in one transaction. If any stream moved meanwhile, everything is loaded and decided
 * again, so a decision is never made on stale state. `streamId` names the command's own stream. A
 * command id seen before is answered with what it did the first time, and nothing is decided again.
 * With `loader`, what is appended is folded into its cache (so a decision on a cached fold can skip
 * the read: when the stream moved meanwhile the append is refused and attempt 2 reads).
 */
export async function execute(
  store: PlatformStore,
  ctx: CommandContext,
  id: string,
  streamId: string,
  /** `attempt` counts from 1: a decision after a refused append (2 on) reads every stream afresh. */
  decide: (attempt: number) => Promise<AppendBatch<EventSchemaMap>[]>,
  options: {
    attempts?: number;
    loader?: AggregateLoader;
    /**
     * The first attempt skips the command-id look: the append answers a command id seen before with
     * the first call's result, and the caller looks it up itself when the command is refused (a
     * retry of a create, say, that finds its name claimed by the instance the first call made).
     */
    skipFirstLook?: boolean;
  } = {},
): Promise<CommandResult> {
  const { loader } = options;
  const key = commandKey(ctx);
  const findPrior = async () => {
    const prior = key ? await store.findCommand(key) : null;
    return prior ? resultOf(store, prior, id, streamId, true) : null;
  };
  return retryOnConflict(
    async (attempt) => {
      const skip = attempt === 1 && options.skipFirstLook === true;
      if (!skip) {
        const prior = await findPrior();
        if (prior) return prior;
      }
      const decided = await decide(attempt);
      const batches = decided.filter((b) => b.events.length > 0);
      if (batches.length === 0) {
        return { id, version: await store.streamVersion(streamId), position: null };
      }
      const result = await store.appendMany(batches, { metadata: metadataOf(ctx), commandId: key });
      loader?.appended(batches, result);
      return resultOf(
        store,
        result,
        id,
        streamId,
        batches.some((b) => b.streamId === streamId),
      );
    },
    { attempts: options.attempts ?? 20, maxDelayMs: 200 },
  );
}

async function resultOf(
  store: PlatformStore,
  result: AppendResult,
  id: string,
  streamId: string,
  wroteOwn: boolean,
): Promise<CommandResult> {
  // A retried command id returns the first call's streams: its ids, not the ones made this time.
  const prefix = streamId.slice(0, streamId.indexOf('-') + 1);
  const written = result.duplicate
    ? result.streams.find((s) => s.streamId.startsWith(prefix))
    : result.streams.find((s) => s.streamId === streamId);
  let last = 0n;
  for (const s of result.streams) if (s.lastPosition > last) last = s.lastPosition;
  return {
    id: written ? written.streamId.slice(prefix.length) : id,
    version: written && wroteOwn ? written.toVersion : await store.streamVersion(streamId),
    position: { transactionId: result.transactionId, position: last },
  };
}
