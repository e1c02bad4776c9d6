/**
 * The web app in chromium against a local `tianqi start`:
 * - JavaScript and CSS sent for the sign-in page and for the instance list, gzipped, beside everything
 *   the build holds (the terminal, charts and player load only when opened); target ≤ 350 KB;
 * - time from navigation to the first rows of the instance list (the instances this node can hold;
 *   the 10,000 need a seeding path the browser bench does not have yet);
 * - time from a change reaching the read models (the mutation answers once they have it) to the row
 *   on screen showing it, over CHANGES changes (stop, start, …), p50 and p99 beside the mutation's own
 *   round trip; target p99 ≤ 300 ms.
 * Run: `npm run bench -w @tianqi/web` with the Docker test nodes up (`npm run bench` does that).
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import { BenchReport, openBenchDatabase, percentile } from '@tianqi/infra';
import type { Page } from 'playwright-core';
import { launch } from '../test/e2e/support/browser.js';
import { client, gpuCatalog, startTianqi } from '../test/e2e/support/platform.js';

const CHANGES = Number(process.env.TIANQI_BENCH_WEB_CHANGES ?? 100);
const INSTANCES = Number(process.env.TIANQI_BENCH_WEB_INSTANCES ?? 12);
const DIST = fileURLToPath(new URL('../dist/assets/', import.meta.url));
const report = new BenchReport('web');

/** Every script and style the page was sent, gzipped as a server would send them. */
function countSent(page: Page): () => number {
  let bytes = 0;
  page.on('response', async (r) => {
    const type = r.request().resourceType();
    if (type !== 'script' && type !== 'stylesheet') return;
    bytes += gzipSync(await r.body().catch(() => Buffer.alloc(0))).length;
  });
  return () => bytes;
}

const wholeBuild = readdirSync(DIST)
  .filter((f) => /\.(js|css)$/.test(f))
  .reduce((sum, f) => sum + gzipSync(readFileSync(join(DIST, f))).length, 0);
const KB = (b: number) => b / 1024;

const tianqi = await startTianqi({ database: openBenchDatabase });
const browser = await launch();
try {
  await gpuCatalog(tianqi.admin);
  await tianqi.user('bench');
  const { token } = await client(tianqi.url).auth.login.mutate({
    username: 'bench',
    password: 'bench-password',
    via: 'cli',
  });
  const bench = client(tianqi.url, token);
  const [image] = (await bench.images.list.query()).filter((i) => i.name === 'busybox');
  const [spec] = (await bench.specs.list.query()).filter((s) => s.name === 'cpu-small');
  const ids: string[] = [];
  for (let i = 0; i < INSTANCES; i++) {
    ids.push(
      (await bench.instances.create.mutate({ name: `b-${i}`, imageId: image!.imageId, specId: spec!.specId }))
        .id,
    );
  }

  const context = await browser.newContext({ viewport: { width: 1280, height: 720 } });
  const page = await context.newPage();
  const sent = countSent(page);
  await page.goto(`${tianqi.url}/sign-in`, { waitUntil: 'networkidle' });
  const signInBytes = sent();
  report.add({
    name: 'sign-in page: JS + CSS sent, gzipped',
    unit: 'KB',
    value: KB(signInBytes),
    params: {},
    peer: { name: 'the whole build', value: KB(wholeBuild), ratio: signInBytes / wholeBuild },
    target: { op: '<=', value: 350 },
  });
  await page.getByLabel(/Username|用户名/).fill('bench');
  await page.getByLabel(/Password|密码/).fill('bench-password');
  await page.getByRole('button', { name: /^(Sign in|登录)$/ }).click();
  await page.waitForURL((u) => u.pathname === '/instances');
  await page.locator('[data-test="instance-name"]').first().waitFor();
  await page.waitForLoadState('networkidle');
  report.add({
    name: 'instance list: JS + CSS sent, gzipped',
    unit: 'KB',
    value: KB(sent()),
    params: {},
    peer: { name: 'the whole build', value: KB(wholeBuild), ratio: sent() / wholeBuild },
    target: { op: '<=', value: 350 },
  });

  // Navigation to first rows, five times; the reference is the list query's own answer time.
  const firstRows: number[] = [];
  const queries: number[] = [];
  for (let i = 0; i < 5; i++) {
    const t0 = performance.now();
    await page.goto(`${tianqi.url}/instances`);
    await page.locator('[data-test="instance-name"]').first().waitFor();
    firstRows.push(performance.now() - t0);
    const q0 = performance.now();
    await bench.instances.list.query({ limit: 50 });
    queries.push(performance.now() - q0);
  }
  firstRows.sort((a, b) => a - b);
  queries.sort((a, b) => a - b);
  report.add({
    name: `navigation to the first rows (${INSTANCES} instances), median of 5`,
    unit: 'ms',
    value: percentile(firstRows, 50),
    params: { instances: INSTANCES },
    peer: {
      name: 'list query alone',
      value: percentile(queries, 50),
      ratio: percentile(firstRows, 50) / percentile(queries, 50),
    },
    target: { op: '<=', value: 1000 },
  });

  // Read model changed → row changed: stop and start the first instance in turn.
  const first = ids[0]!;
  const onScreen: number[] = [];
  const answers: number[] = [];
  for (let i = 0; i < CHANGES; i++) {
    const action = i % 2 === 0 ? 'stop' : 'start';
    const desired = action === 'stop' ? 'stopped' : 'running';
    const m0 = performance.now();
    await bench.instances[action].mutate({ instanceId: first });
    const answered = performance.now();
    answers.push(answered - m0);
    await page.waitForFunction(
      (want) => {
        const name = [...document.querySelectorAll('[data-test="instance-name"]')].find(
          (e) => e.textContent === 'b-0',
        );
        return name?.closest('tr')?.querySelector('[data-desired]')?.getAttribute('data-desired') === want;
      },
      desired,
      { polling: 'raf', timeout: 10_000 },
    );
    onScreen.push(performance.now() - answered);
  }
  onScreen.sort((a, b) => a - b);
  answers.sort((a, b) => a - b);
  const answerP50 = percentile(answers, 50);
  for (const p of [50, 99]) {
    report.add({
      name: `read model changed → row on screen, p${p} of ${CHANGES}`,
      unit: 'ms',
      value: percentile(onScreen, p),
      params: { changes: CHANGES },
      peer: { name: 'mutation round trip p50', value: answerP50, ratio: percentile(onScreen, p) / answerP50 },
      ...(p === 99 ? { target: { op: '<=' as const, value: 300 } } : {}),
    });
  }
  await context.close();
} finally {
  await browser.close();
  await tianqi.stop();
}
report.finish(process.argv.slice(2), fileURLToPath(new URL('../../../', import.meta.url)));
