import { z } from 'zod';
import type { GlobalPosition } from './positions.js';

/** Who caused an event and as part of what: kept with every event, for auditors. */
export const eventMetadataSchema = z.object({
  actorUserId: z.string().max(200).nullable().default(null),
  actorIp: z.string().max(100).nullable().default(null),
  commandId: z.string().max(200).nullable().default(null),
  correlationId: z.string().max(200).nullable().default(null),
  causationId: z.string().max(200).nullable().default(null),
  /**
   * "<lease>#<token>": written under that lease (several API servers); the database refuses the event
   * once the token no longer holds it. Absent on everything else.
   */
  fence: z.string().max(300).optional(),
});
export type EventMetadata = z.output<typeof eventMetadataSchema>;
export type EventMetadataInput = z.input<typeof eventMetadataSchema>;

/**
 * `no_stream`: the stream must not exist yet; `any`: no check; a number: the stream's current version
 * (its count of events) must be exactly that.
 */
export type ExpectedVersion = 'no_stream' | 'any' | number;

export interface RecordedEvent<T extends string = string, D = unknown> extends GlobalPosition {
  readonly streamId: string;
  /** 1 for a stream's first event. */
  readonly version: number;
  readonly type: T;
  readonly data: D;
  readonly metadata: EventMetadata;
  readonly recordedAt: Date;
}

export interface AppendedStream {
  streamId: string;
  fromVersion: number;
  /** The stream's version after the append: the expected version for the next one. */
  toVersion: number;
  firstPosition: bigint;
  lastPosition: bigint;
}

export interface AppendResult {
  transactionId: bigint;
  streams: AppendedStream[];
  /** True when the command id had been seen: nothing was appended, this is the first call's result. */
  duplicate: boolean;
}
