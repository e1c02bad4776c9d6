/**
 * A start that cannot go on for a reason the operator can fix (a bad configuration, an unreadable host
 * key, a database that refuses us): `tianqi start` prints the message alone, without a stack trace.
 */
export class StartError extends Error {
  override name = 'StartError';
}
