import { TianqiError } from '@tianqi/domain';

/** The SQLSTATE the fence trigger raises (migrations/0005_replicas.sql). */
const FENCE_REFUSED = 'TQ101';

/**
 * This server no longer holds the lease of some work (another took it, or it could not renew in
 * time): whatever it was doing there stops, and nothing it would write is recorded.
 */
export class LeaseLost extends TianqiError {
  constructor(readonly lease: string) {
    super('conflict', `this server no longer holds ${lease}; its owner carries on`, { lease });
  }
}

/** A lease lost here, or an append the database refused for a stale fence. */
export function isLeaseLost(err: unknown): boolean {
  return err instanceof LeaseLost || (err as { code?: unknown }).code === FENCE_REFUSED;
}
