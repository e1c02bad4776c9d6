import { TianqiError } from '@tianqi/domain';

/** The error vocabulary lives in the domain package; the store's own errors extend it. */
export { type ErrorCode, TianqiError } from '@tianqi/domain';

/** An append's expected version did not match the stream; nothing was written. */
export class ConcurrencyError extends TianqiError {
  constructor(
    readonly streamId: string,
    readonly expected: string,
    readonly actual: number,
  ) {
    super('conflict', `stream ${streamId} is at version ${actual}, not at the expected ${expected}`, {
      streamId,
      expected,
      actual,
    });
  }
}

/** An event type the registry does not know, on write or on read. */
export class UnknownEventTypeError extends TianqiError {
  constructor(
    readonly eventType: string,
    where: string,
  ) {
    super('validation', `unknown event type "${eventType}" ${where}`, { eventType });
  }
}

/** An event's data does not match its type's schema, on write or on read. */
export class EventValidationError extends TianqiError {
  constructor(
    readonly eventType: string,
    where: string,
    readonly issues: string[],
  ) {
    super('validation', `invalid ${eventType} event ${where}: ${issues.join('; ')}`, { eventType, issues });
  }
}
