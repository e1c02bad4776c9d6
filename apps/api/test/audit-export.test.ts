import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ApiFixture, openApi } from './api-fixture.js';

/** The audit export over more than one page (500 entries), through HTTP as an admin's download. */
let api: ApiFixture;
const IMAGES = 320;

beforeAll(async () => {
  api = await openApi();
  // Each image is two events (the image, its name taken): more than one page in all.
  for (let i = 0; i < IMAGES; i += 20) {
    await Promise.all(
      Array.from({ length: 20 }, (_, j) =>
        api.admin.images.create.mutate({ name: `img-${i + j}`, address: `registry.local/img:${i + j}` }),
      ),
    );
  }
}, 120_000);

afterAll(async () => {
  await api?.close();
});

const download = async (query: string) => {
  const res = await fetch(`${api.url}/api/audit/export?${query}`, {
    headers: { authorization: `Bearer ${api.adminToken}` },
  });
  expect(res.status).toBe(200);
  return res.text();
};

describe('the audit export', () => {
  it('streams the whole log, page after page, each entry once and in order', async () => {
    const { total } = await api.admin.audit.list.query({ limit: 1 });
    expect(total).toBeGreaterThan(500);
    const lines = (await download('format=jsonl')).trim().split('\n');
    const positions = lines.map((l) => Number((JSON.parse(l) as { position: number }).position));
    expect(positions).toHaveLength(total);
    expect(positions.every((p, i) => i === 0 || p > positions[i - 1]!)).toBe(true);
    const csv = (await download('format=csv')).trim().split('\r\n');
    expect(csv).toHaveLength(total + 1);
  });

  it('keeps to the filter across pages', async () => {
    const lines = (await download('format=jsonl&type=ImageRegistered')).trim().split('\n');
    expect(lines).toHaveLength(IMAGES);
    expect(new Set(lines.map((l) => (JSON.parse(l) as { streamId: string }).streamId)).size).toBe(IMAGES);
  });
});
