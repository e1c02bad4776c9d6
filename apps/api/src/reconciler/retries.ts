import type pg from 'pg';

/**
 * The reconciler's retries (table `reconcile_retries`): attempts and the next one's time for an
 * instance it keeps failing on. The read model has the error and its first retry; this has the latest.
 */
export const reconcileRetries = {
  async failed(pool: pg.Pool, instanceId: string, attempts: number, retryAt: Date): Promise<void> {
    await pool.query(
      `INSERT INTO reconcile_retries (instance_id, attempts, retry_at) VALUES ($1, $2, $3)
       ON CONFLICT (instance_id) DO UPDATE SET attempts = $2, retry_at = $3, updated_at = now()`,
      [instanceId, attempts, retryAt],
    );
  },

  async recovered(pool: pg.Pool, instanceId: string): Promise<void> {
    await pool.query('DELETE FROM reconcile_retries WHERE instance_id = $1', [instanceId]);
  },

  async of(pool: pg.Pool, instanceId: string): Promise<{ attempts: number; retryAt: Date } | null> {
    const { rows } = await pool.query<{ attempts: number; retry_at: Date }>(
      'SELECT attempts, retry_at FROM reconcile_retries WHERE instance_id = $1',
      [instanceId],
    );
    return rows[0] ? { attempts: rows[0].attempts, retryAt: rows[0].retry_at } : null;
  },
};
