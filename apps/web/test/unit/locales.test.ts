import { describe, expect, it } from 'vitest';
import en from '../../src/locales/en.js';
import zhCN from '../../src/locales/zh-CN.js';

const keys = (o: object, prefix = ''): string[] =>
  Object.entries(o).flatMap(([k, v]) =>
    typeof v === 'object' && v ? keys(v, `${prefix}${k}.`) : [`${prefix}${k}`],
  );

describe('the two languages', () => {
  it('have exactly the same keys, each with a message', () => {
    expect(keys(en).sort()).toEqual(keys(zhCN).sort());
    for (const lang of [en, zhCN]) {
      for (const key of keys(lang)) {
        const value = key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], lang);
        expect(value, key).not.toBe('');
      }
    }
  });

  it('name the same placeholders in each message', () => {
    // A plural message ("{n} attempt | {n} attempts") names its placeholders once per form.
    const holes = (s: string) => [...new Set([...s.matchAll(/\{(\w+)\}/g)].map((m) => m[1]))].sort();
    for (const key of keys(zhCN)) {
      const get = (lang: object) =>
        key.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], lang) as string;
      expect(holes(get(en)), key).toEqual(holes(get(zhCN)));
    }
  });
});
