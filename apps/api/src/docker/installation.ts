import type pg from 'pg';

/** This installation's id (made by a migration), the `tianqi.installation` label of its containers. */
export async function installationId(pool: pg.Pool): Promise<string> {
  const { rows } = await pool.query<{ id: string }>('SELECT id FROM installation LIMIT 1');
  return rows[0]!.id;
}
