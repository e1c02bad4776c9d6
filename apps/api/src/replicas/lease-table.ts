import { withClient } from '@tianqi/events';
import type pg from 'pg';

/** A lease as this server holds it: the token fences its writes (`<name>#<token>`). */
export interface HeldLease {
  name: string;
  token: bigint;
}

/**
 * The SQL of membership and leases (migrations/0005_replicas.sql). Expiry is always the database's
 * clock, so replicas whose clocks disagree still agree on who holds what.
 */
export class LeaseTable {
  constructor(
    private readonly pool: pg.Pool,
    private readonly replica: string,
    private readonly incarnation: string,
    private readonly leaseMs: number,
  ) {}

  /** Says this replica is alive for another lease duration; answers the live replicas, in order. */
  async heartbeat(): Promise<{ live: string[]; replacedOther: boolean }> {
    const { rows } = await this.pool.query<{ live: string[]; replaced: boolean }>(
      `WITH before AS (SELECT incarnation, expires_at FROM replicas WHERE replica = $1),
       up AS (
         INSERT INTO replicas (replica, incarnation, expires_at)
         VALUES ($1, $2, now() + $3 * interval '1 millisecond')
         ON CONFLICT (replica) DO UPDATE SET incarnation = excluded.incarnation, expires_at = excluded.expires_at,
           started_at = CASE WHEN replicas.incarnation = excluded.incarnation THEN replicas.started_at ELSE now() END
       )
       SELECT coalesce((SELECT array_agg(replica ORDER BY replica) FROM replicas
                        WHERE expires_at > now() OR replica = $1), '{}') AS live,
              coalesce((SELECT incarnation <> $2 AND expires_at > now() FROM before), false) AS replaced`,
      [this.replica, this.incarnation, this.leaseMs],
    );
    const live = rows[0]!.live;
    if (!live.includes(this.replica)) live.push(this.replica);
    live.sort();
    return { live, replacedOther: rows[0]!.replaced };
  }

  /** Makes sure a row exists for each of these leases (new nodes), so that they can be taken. */
  async ensure(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    await this.pool.query('INSERT INTO leases (name) SELECT unnest($1::text[]) ON CONFLICT DO NOTHING', [
      names,
    ]);
  }

  /** Leases nobody holds now (never held, given up, or expired): the ones that can be taken. */
  async free(names: readonly string[]): Promise<string[]> {
    const { rows } = await this.pool.query<{ name: string }>(
      `SELECT name FROM leases WHERE name = ANY($1)
         AND (incarnation IS NULL OR expires_at < now() OR replica = $2)
       ORDER BY name`,
      [names, this.replica],
    );
    return rows.map((r) => r.name);
  }

  /**
   * Takes up to `want` of these leases that are still free, expired, or held by an earlier run of
   * this same replica (its port is ours now, so that run is over), each with a new token, in one
   * transaction: a replica taking a fleet's hundred nodes must not spend longer than a lease on taking
   * them one by one. A lease is taken under its key held exclusively, so that appends fenced by its
   * old token finish first and any later one sees the new token; the keys are only tried, never waited
   * for (appends grouped in one commit take theirs in no set order, so waiting could deadlock), and
   * rows another replica is taking now are skipped: what is not taken this look is tried at the next.
   */
  async acquire(names: readonly string[], want = names.length): Promise<HeldLease[]> {
    if (names.length === 0 || want <= 0) return [];
    return withClient(this.pool, async (client) => {
      await client.query('BEGIN');
      try {
        const free = await client.query<{ name: string }>(
          `SELECT name FROM leases WHERE name = ANY($1)
             AND (incarnation IS NULL OR expires_at < now() OR replica = $2)
           ORDER BY name FOR UPDATE SKIP LOCKED`,
          [names, this.replica],
        );
        const { rows: locked } = await client.query<{ name: string }>(
          `SELECT n AS name FROM unnest($1::text[]) AS n WHERE pg_try_advisory_xact_lock(tianqi_lease_key(n))`,
          [free.rows.map((r) => r.name)],
        );
        const { rows } = await client.query<{ name: string; token: string }>(
          `UPDATE leases SET replica = $2, incarnation = $3, token = token + 1, acquired_at = now(),
             expires_at = now() + $4 * interval '1 millisecond'
           WHERE name = ANY($1) RETURNING name, token::text`,
          [locked.slice(0, want).map((r) => r.name), this.replica, this.incarnation, this.leaseMs],
        );
        await client.query('COMMIT');
        return rows
          .map((r) => ({ name: r.name, token: BigInt(r.token) }))
          .sort((a, b) => (a.name < b.name ? -1 : 1));
      } catch (err) {
        await client.query('ROLLBACK').catch(() => {});
        throw err;
      }
    });
  }

  /** Extends every lease this run holds; answers those it still holds (a missing one was taken). */
  async renew(): Promise<HeldLease[]> {
    const { rows } = await this.pool.query<{ name: string; token: string }>(
      `UPDATE leases SET expires_at = now() + $2 * interval '1 millisecond'
       WHERE incarnation = $1 RETURNING name, token::text`,
      [this.incarnation, this.leaseMs],
    );
    return rows.map((r) => ({ name: r.name, token: BigInt(r.token) }));
  }

  /** Gives a lease up at once (its work has stopped): the next replica to look takes it. */
  async release(names: readonly string[]): Promise<void> {
    if (names.length === 0) return;
    await this.pool.query(
      `UPDATE leases SET incarnation = NULL, expires_at = now() WHERE name = ANY($1) AND incarnation = $2`,
      [names, this.incarnation],
    );
  }

  /** Leaves the membership (a clean stop): the others share the work out at their next look. */
  async leave(): Promise<void> {
    await this.pool.query('DELETE FROM replicas WHERE replica = $1 AND incarnation = $2', [
      this.replica,
      this.incarnation,
    ]);
  }
}
