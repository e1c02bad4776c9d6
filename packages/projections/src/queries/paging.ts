import { z } from 'zod';

export const pageSchema = {
  limit: z.number().int().min(1).max(500).default(50),
  offset: z.number().int().min(0).max(1_000_000).default(0),
};

export interface Page<T> {
  items: T[];
  total: number;
  limit: number;
  offset: number;
}

const camelNames = new Map<string, string>();

/** snake_case row → camelCase object, for what the API hands out (column names converted once). */
export function camel<T>(row: Record<string, unknown>): T {
  const out: Record<string, unknown> = {};
  for (const k in row) {
    let name = camelNames.get(k);
    if (name === undefined) {
      name = k.replace(/_([a-z])/g, (_, c: string) => c.toUpperCase());
      if (camelNames.size < 10_000) camelNames.set(k, name);
    }
    out[name] = row[k];
  }
  return out as T;
}

/** Builds a WHERE clause from conditions, each with one `?` standing for its parameter. */
export function whereBuilder() {
  const conditions: string[] = [];
  const params: unknown[] = [];
  return {
    params,
    add(sql: string, value: unknown) {
      params.push(value);
      conditions.push(sql.replace('?', `$${params.length}`));
    },
    raw(sql: string) {
      conditions.push(sql);
    },
    get clause() {
      return conditions.length > 0 ? `WHERE ${conditions.join(' AND ')}` : '';
    },
  };
}
