import { afterPositionSql, type GlobalPosition, positionParams } from '@tianqi/events';
import type pg from 'pg';

/** Age in seconds of the oldest event the read models have not taken in yet (0 when up to date). */
export async function projectionLagSeconds(pool: pg.Pool, position: GlobalPosition): Promise<number> {
  const { rows } = await pool.query<{ lag: number | null }>(
    `SELECT extract(epoch FROM now() - min(recorded_at))::float8 AS lag FROM (
       SELECT recorded_at FROM events
       WHERE ${afterPositionSql(1)}
       ORDER BY transaction_id, position LIMIT 1) first_unapplied`,
    positionParams(position),
  );
  return Math.max(0, rows[0]?.lag ?? 0);
}

/** Drift seen and not yet resolved, counted. */
export async function openDriftCount(pool: pg.Pool): Promise<number> {
  const { rows } = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM rm.drift WHERE open');
  return rows[0]!.n;
}
