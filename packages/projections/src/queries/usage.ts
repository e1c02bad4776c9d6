import { parseOrThrow } from '@tianqi/domain';
import type pg from 'pg';
import { z } from 'zod';

export const usagePeriodSchema = z
  .strictObject({ from: z.date(), to: z.date(), ownerId: z.string().max(64).optional() })
  .refine((p) => p.from < p.to, 'the period must end after it starts');

export interface InstanceUsage {
  instanceId: string;
  /** Null when the instances read model has no row for it. */
  instanceName: string | null;
  ownerId: string;
  ownerName: string | null;
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
    instance_name: string | null;
    owner_id: string;
    owner_name: string | null;
    price: number;
    seconds: number;
  }>(
    `WITH spans AS (
       SELECT instance_id, owner_id, price_per_hour, started_at, stopped_at FROM rm.usage_intervals
       UNION ALL
       SELECT instance_id, owner_id, price_per_hour, open_since, least(now(), $2) FROM rm.usage_instances
       WHERE open_since IS NOT NULL
     )
     SELECT s.instance_id, i.name AS instance_name, s.owner_id, u.username AS owner_name,
            s.price_per_hour::float8 AS price,
            sum(extract(epoch FROM least(s.stopped_at, $2) - greatest(s.started_at, $1)))::float8 AS seconds
     FROM spans s
     LEFT JOIN rm.instances i ON i.instance_id = s.instance_id
     LEFT JOIN rm.users u ON u.user_id = s.owner_id
     WHERE s.started_at < $2 AND s.stopped_at > $1 AND ($3::text IS NULL OR s.owner_id = $3)
     GROUP BY s.instance_id, i.name, s.owner_id, u.username, s.price_per_hour
     ORDER BY s.instance_id`,
    [p.from, p.to, p.ownerId ?? null],
  );
  return rows.map((r) => ({
    instanceId: r.instance_id,
    instanceName: r.instance_name,
    ownerId: r.owner_id,
    ownerName: r.owner_name,
    pricePerHour: r.price,
    seconds: r.seconds,
    cost: Math.round(((r.seconds * r.price) / 3600) * 100) / 100,
  }));
}

export interface UserUsage {
  ownerId: string;
  ownerName: string | null;
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
    const entry = byUser.get(u.ownerId) ?? {
      ownerId: u.ownerId,
      ownerName: u.ownerName,
      seconds: 0,
      cost: 0,
      instances: 0,
    };
    entry.seconds += u.seconds;
    entry.cost = Math.round((entry.cost + (u.seconds * u.pricePerHour) / 3600) * 100) / 100;
    entry.instances += 1;
    byUser.set(u.ownerId, entry);
  }
  return [...byUser.values()].sort((a, b) => a.ownerId.localeCompare(b.ownerId));
}

export const usageDaysSchema = z
  .strictObject({
    from: z.date(),
    to: z.date(),
    ownerId: z.string().max(64).optional(),
    /** The IANA zone whose calendar days the period is cut into. */
    timeZone: z.string().max(64).default('UTC'),
  })
  .refine((p) => p.from < p.to, 'the period must end after it starts')
  .refine((p) => p.to.getTime() - p.from.getTime() <= 400 * 86_400_000, 'at most 400 days at once');

export interface DayUsage {
  /** The calendar day in the zone asked for, `YYYY-MM-DD`. */
  day: string;
  seconds: number;
  cost: number;
  instances: number;
}

/**
 * Running time and cost per calendar day of [from, to) in `timeZone` (every day of the period, with
 * zeros where nothing ran): each running span is cut at the days' edges, so a span across midnight
 * counts on both days.
 */
export async function usageByDay(
  pool: pg.Pool,
  period: z.input<typeof usageDaysSchema>,
): Promise<DayUsage[]> {
  const p = parseOrThrow(usageDaysSchema, period, 'period');
  const { rows } = await pool.query<{ day: string; seconds: number; cost: number; instances: number }>(
    `WITH spans AS (
       SELECT instance_id, owner_id, price_per_hour, started_at, stopped_at FROM rm.usage_intervals
       UNION ALL
       SELECT instance_id, owner_id, price_per_hour, open_since, least(now(), $2) FROM rm.usage_instances
       WHERE open_since IS NOT NULL
     ),
     clipped AS (
       SELECT instance_id, price_per_hour, greatest(started_at, $1) AS s, least(stopped_at, $2) AS e
       FROM spans WHERE started_at < $2 AND stopped_at > $1 AND ($3::text IS NULL OR owner_id = $3)
     ),
     days AS (
       SELECT d AS local_day, greatest(d AT TIME ZONE $4::text, $1::timestamptz) AS s,
              least((d + interval '1 day') AT TIME ZONE $4::text, $2::timestamptz) AS e
       FROM generate_series(date_trunc('day', $1::timestamptz AT TIME ZONE $4::text),
                            $2::timestamptz AT TIME ZONE $4::text, interval '1 day') d
     )
     SELECT to_char(d.local_day, 'YYYY-MM-DD') AS day,
            coalesce(sum(c.seconds), 0)::float8 AS seconds,
            coalesce(sum(c.seconds * c.price_per_hour / 3600), 0)::float8 AS cost,
            count(DISTINCT c.instance_id)::int AS instances
     FROM days d
     LEFT JOIN LATERAL (
       SELECT instance_id, price_per_hour, extract(epoch FROM least(e, d.e) - greatest(s, d.s)) AS seconds
       FROM clipped WHERE s < d.e AND e > d.s
     ) c ON true
     WHERE d.s < d.e
     GROUP BY d.local_day ORDER BY d.local_day`,
    [p.from, p.to, p.ownerId ?? null, p.timeZone],
  );
  return rows.map((r) => ({ ...r, cost: Math.round(r.cost * 100) / 100 }));
}
