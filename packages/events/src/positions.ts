/**
 * A place in the global order of events. The order is by the appending transaction's id, then by
 * position: readers only ever go past transactions that have finished, so nothing commits behind them.
 */
export interface GlobalPosition {
  readonly transactionId: bigint;
  readonly position: bigint;
}

/** Before the first event. */
export const START: GlobalPosition = Object.freeze({ transactionId: 0n, position: 0n });

export function comparePositions(a: GlobalPosition, b: GlobalPosition): number {
  if (a.transactionId !== b.transactionId) return a.transactionId < b.transactionId ? -1 : 1;
  if (a.position !== b.position) return a.position < b.position ? -1 : 1;
  return 0;
}

/** A compact text form for checkpoints in URLs, CLI flags and resume tokens: `<transaction>.<position>`. */
export function formatPosition(p: GlobalPosition): string {
  return `${p.transactionId}.${p.position}`;
}

export function parsePosition(text: string): GlobalPosition {
  const match = /^(\d{1,20})\.(\d{1,20})$/.exec(text);
  if (!match) throw new Error(`not a global position: "${text}" (expected <transaction>.<position>)`);
  return { transactionId: BigInt(match[1]!), position: BigInt(match[2]!) };
}

/**
 * SQL for "the event comes after the position in parameters `$first` and `$first + 1`" (give them as
 * `positionParams(p)`), on the columns of `events` or of the table alias `alias`. A row comparison, so
 * PostgreSQL walks the (transaction_id, position) index from there.
 */
export function afterPositionSql(first: number, alias?: string): string {
  const t = alias ? `${alias}.` : '';
  return `(${t}transaction_id, ${t}position) > ($${first}::text::xid8, $${first + 1}::bigint)`;
}

/** A position as the two query parameters `afterPositionSql` reads. */
export function positionParams(p: GlobalPosition): [string, string] {
  return [p.transactionId.toString(), p.position.toString()];
}
