import { freePort } from '@tianqi/infra';
import { describe, expect, it } from 'vitest';
import { createPool, isDatabaseUnavailable, TianqiError, withClient } from '../src/index.js';
import { useStore } from './fixtures.js';

const ctx = useStore();

async function gone(pool: ReturnType<typeof createPool>, pid: number): Promise<void> {
  for (let i = 0; i < 100; i++) {
    const { rows } = await pool.query('SELECT 1 FROM pg_stat_activity WHERE pid = $1', [pid]);
    if (rows.length === 0) break;
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
  // Time for the socket to report the end of the connection to the client.
  await new Promise((resolve) => setTimeout(resolve, 200));
}

describe('withClient', () => {
  it('a checked-out client whose session is terminated between two statements is dropped, and the process lives on', async () => {
    const pool = createPool(ctx.db.url, { max: 3 });
    try {
      const failed = await withClient(pool, async (client) => {
        const { rows } = await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
        // Idle between statements, checked out, when the server ends its session.
        await pool.query('SELECT pg_terminate_backend($1)', [rows[0]!.pid]);
        await gone(pool, rows[0]!.pid);
        return client.query('SELECT 1');
      }).catch((err: unknown) => err);
      expect(failed).toBeInstanceOf(Error);
      expect(isDatabaseUnavailable(failed)).toBe(true);
      // The broken client left the pool; the next checkout gets a working one.
      const { rows } = await withClient(pool, (client) => client.query<{ n: number }>('SELECT 1 AS n'));
      expect(rows[0]!.n).toBe(1);
    } finally {
      await pool.end();
    }
  });

  it('keeps the client after a statement the server refused', async () => {
    const pool = createPool(ctx.db.url, { max: 1 });
    try {
      const pid = await withClient(
        pool,
        async (c) => (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p,
      );
      const refused = await withClient(pool, (c) => c.query('SELECT no_such_column')).catch(
        (e: unknown) => e,
      );
      expect(isDatabaseUnavailable(refused)).toBe(false);
      expect(
        await withClient(pool, async (c) => (await c.query('SELECT pg_backend_pid() AS p')).rows[0].p),
      ).toBe(pid);
    } finally {
      await pool.end();
    }
  });
});

describe('isDatabaseUnavailable', () => {
  it('says yes to a refused connection, even wrapped, and no to what the platform already named', async () => {
    const port = await freePort();
    const pool = createPool(`postgres://postgres@127.0.0.1:${port}/postgres`, { max: 1 });
    try {
      const refused = await pool.query('SELECT 1').catch((e: unknown) => e);
      expect(isDatabaseUnavailable(refused)).toBe(true);
      expect(isDatabaseUnavailable(new Error('read model x failed', { cause: refused }))).toBe(true);
      expect(isDatabaseUnavailable(new TianqiError('node_unavailable', 'node n1 does not answer'))).toBe(
        false,
      );
      expect(isDatabaseUnavailable(new Error('something else'))).toBe(false);
    } finally {
      await pool.end();
    }
  });
});
