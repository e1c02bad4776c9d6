import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createPool, EventStore, isDatabaseUnavailable } from '@tianqi/events';
import { StandInDockerEngine, startThrowawayPostgres } from '@tianqi/infra';
import { allProjections, platformEvents, rebuildProjections } from '@tianqi/projections';
import { describe, expect, it } from 'vitest';
import { seedDatabase } from '../src/bench/seed.js';
import { LABEL_INSTANCE } from '../src/docker/labels.js';

// PostgreSQL restarted while `tianqi rebuild-projections` runs: the rebuild fails with the database's
// own error, the live read models go on as they were (the new tables are built aside and swapped in
// one transaction), and running it again builds them whole. On a PostgreSQL of its own: restarting
// the shared test database would disturb every other test file.
describe('a rebuild cut by a PostgreSQL restart', () => {
  it('fails with a clear error, leaves the live read models whole, and the next rebuild succeeds', async () => {
    const pg = await startThrowawayPostgres();
    const dir = await mkdtemp(join(tmpdir(), 'tianqi-rebuild-restart-'));
    const engines = [0, 1].map((n) => new StandInDockerEngine(join(dir, `node${n}.sock`), LABEL_INSTANCE));
    const pool = createPool(pg.url, { max: 10 });
    const store = new EventStore({ pool, registry: platformEvents, connectionString: pg.url });
    try {
      await seedDatabase(pg.url, engines, { users: 50, instances: 10_000, nodes: 2, password: 'seeded-pw' });
      const view = async () => {
        const instances = await pool.query(
          'SELECT instance_id, name, owner_id, node_id, desired, observed FROM rm.instances ORDER BY instance_id',
        );
        const nodes = await pool.query('SELECT node_id, name FROM rm.nodes ORDER BY node_id');
        const audit = await pool.query<{ n: number }>('SELECT count(*)::int AS n FROM rm.audit_log');
        return { instances: instances.rows, nodes: nodes.rows, audit: audit.rows[0]!.n };
      };
      const before = await view();
      expect(before.instances).toHaveLength(10_000);

      // The restart begins as soon as the rebuild reports its first progress: it is then under way.
      let restart: Promise<void> | undefined;
      const cut = rebuildProjections(store, allProjections, {
        batchSize: 500,
        onProgress: () => {
          restart ??= pg.restart();
        },
      });
      const error = await cut.then(
        () => null,
        (err: unknown) => err as Error,
      );
      await restart;
      expect(restart, 'the restart came while the rebuild ran').toBeDefined();
      // The database's own error, one the platform tells its callers as "database unavailable".
      expect(error, 'the rebuild failed').toBeInstanceOf(Error);
      expect(isDatabaseUnavailable(error), String(error)).toBe(true);

      // Broken connections are dropped by the pool; the first queries after the restart may still meet one.
      let after: Awaited<ReturnType<typeof view>> | undefined;
      for (let i = 0; i < 20 && !after; i++) after = await view().catch(() => undefined);
      expect(after).toEqual(before);

      const again = await rebuildProjections(store, allProjections);
      expect(again.projections.sort()).toEqual(allProjections.map((p) => p.name).sort());
      expect(await view()).toEqual(before);
      const { rows } = await pool.query(
        `SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rm\\_build\\_%'`,
      );
      expect(rows, 'no build schema left behind').toEqual([]);
    } finally {
      await store.close().catch(() => {});
      await pool.end().catch(() => {});
      await Promise.all(engines.map((e) => e.close().catch(() => {})));
      await pg.stop();
      await rm(dir, { recursive: true, force: true });
    }
  }, 180_000);
});
