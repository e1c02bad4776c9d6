/** Work that cannot be done now (node down, Docker unreachable): the queue tries again later. */
export class RetryLater extends Error {}
