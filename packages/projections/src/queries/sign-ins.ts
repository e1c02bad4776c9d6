import type pg from 'pg';

/**
 * Whether a user signed in from this address since `since`: their `LoginSucceeded` events carry the
 * address. What the login limiter asks when it has not seen the address itself (after a restart, or
 * when the sign-in went through another API server).
 */
export async function signedInFrom(pool: pg.Pool, userId: string, ip: string, since: Date): Promise<boolean> {
  const { rows } = await pool.query(
    `SELECT 1 FROM events
     WHERE stream_id = $1 AND type = 'LoginSucceeded' AND metadata->>'actorIp' = $2 AND recorded_at >= $3
     LIMIT 1`,
    [`user-${userId}`, ip, since],
  );
  return rows.length > 0;
}
