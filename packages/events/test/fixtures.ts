import { createTestDatabase, type TestDatabase } from '@tianqi/infra';
import { afterAll, beforeAll } from 'vitest';
import { z } from 'zod';
import { createPool, defineEvents, EventStore, eventStoreMigrations, migrate } from '../src/index.js';

/** A small event vocabulary for exercising the store: a bank account's deposits and renames. */
export const testEvents = defineEvents({
  Deposited: z.object({ amount: z.number().int().positive(), by: z.string().optional() }),
  Renamed: z.object({ name: z.string().min(1) }),
});

export interface OpenedStore {
  db: TestDatabase;
  store: EventStore<typeof testEvents.schemas>;
  close(): Promise<void>;
}

/** A migrated store on a fresh database of its own. */
export async function openStore(poolSize = 20): Promise<OpenedStore> {
  const db = await createTestDatabase();
  const pool = createPool(db.url, { max: poolSize });
  await migrate(pool, [eventStoreMigrations]);
  const store = new EventStore({ pool, registry: testEvents });
  return {
    db,
    store,
    close: async () => {
      await store.close();
      await pool.end();
      await db.drop();
    },
  };
}

/** A store opened before the file's tests and closed after them. */
export function useStore(poolSize = 20): OpenedStore {
  let opened: OpenedStore | undefined;
  beforeAll(async () => {
    opened = await openStore(poolSize);
  });
  afterAll(() => opened?.close());
  const get = () => {
    if (!opened) throw new Error('the test store opens in beforeAll');
    return opened;
  };
  return {
    get db() {
      return get().db;
    },
    get store() {
      return get().store;
    },
    close: () => get().close(),
  };
}

export const deposit = (amount: number) => ({ type: 'Deposited' as const, data: { amount } });

/** The amount of a Deposited event (NaN for any other type). */
export const amountOf = (e: { type: string; data: unknown }): number =>
  e.type === 'Deposited' ? (e.data as { amount: number }).amount : Number.NaN;
