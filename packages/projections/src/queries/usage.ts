import { parseOrThrow } from '@tianqi/domain';
import type pg from 'pg';
import { z } from 'zod';

export const usagePeriodSchema = z
  .strictObject({ from: z.date(), to: z.date(), ownerId: z.string().max(64).optional() })
  .refine((p) => p.from < p.to, 'the period must end after it starts');

export interface InstanceUsage {
  instanceId: string;
  ownerId: string;
  pricePerHour: number;
  seconds: number;
  cost: number;
}

/**
 * Running time inside [from, to) per instance and what it costs (seconds × price per hour), from the
 * closed intervals and the ones still open (counted up to `to`, or now if earlier).
 */
export async function usageByInstance(
  pool: pg.Pool,
  period: z.input<typeof usagePeriodSchema>,
): Promise<InstanceUsage[]> {
  const p = parseOrThrow(usagePeriodSchema, period, 'period');
  const { rows } = await pool.query<{
    instance_id: string;
    owner_id: string;
    price: number;
    seconds: number;
  }>(
    `WITH spans AS (
       SELECT instance_id, owner_id, price_per_hour, started_at, stopped_at FROM rm.usage_intervals
       UNION ALL
       SELECT instance_id, owner_id, price_per_hour, open_since, least(now(), $2) FROM rm.usage_instances
       WHERE open_since IS NOT NULL
     )
     SELECT instance_id, owner_id, price_per_hour::float8 AS price,
            sum(extract(epoch FROM least(stopped_at, $2) - greatest(started_at, $1)))::float8 AS seconds
     FROM spans
     WHERE started_at < $2 AND stopped_at > $1 AND ($3::text IS NULL OR owner_id = $3)
     GROUP BY instance_id, owner_id, price_per_hour
     ORDER BY instance_id`,
    [p.from, p.to, p.ownerId ?? null],
  );
  return rows.map((r) => ({
    instanceId: r.instance_id,
    ownerId: r.owner_id,
    pricePerHour: r.price,
    seconds: r.seconds,
    cost: Math.round(((r.seconds * r.price) / 3600) * 100) / 100,
  }));
}

export interface UserUsage {
  ownerId: string;
  seconds: number;
  cost: number;
  instances: number;
}

export async function usageByUser(
  pool: pg.Pool,
  period: z.input<typeof usagePeriodSchema>,
): Promise<UserUsage[]> {
  const byUser = new Map<string, UserUsage>();
  for (const u of await usageByInstance(pool, period)) {
    const entry = byUser.get(u.ownerId) ?? { ownerId: u.ownerId, seconds: 0, cost: 0, instances: 0 };
    entry.seconds += u.seconds;
    entry.cost = Math.round((entry.cost + (u.seconds * u.pricePerHour) / 3600) * 100) / 100;
    entry.instances += 1;
    byUser.set(u.ownerId, entry);
  }
  return [...byUser.values()].sort((a, b) => a.ownerId.localeCompare(b.ownerId));
}
