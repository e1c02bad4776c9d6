import { readFile } from 'node:fs/promises';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { openPage, shot } from './support/browser.js';
import { dockerStop, runningInstance } from './support/instances.js';
import { ADMIN, gpuCatalog } from './support/platform.js';
import { signIn } from './support/sign-in.js';
import { useBrowserSuite } from './support/suite.js';

// The admin's drift (healed by the platform), audit log and usage pages, in English: a container
// stopped by hand heals by itself; the log filtered, downloaded as CSV and opened at a past moment;
// usage read and exported.
const suite = useBrowserSuite('en', async (tianqi) => {
  await gpuCatalog(tianqi.admin);
  await tianqi.user('frank');
});
let instanceId: string;

/** Chooses an option of a Naive UI select by its text. */
async function choose(page: Page, select: string, option: string) {
  await page.locator(`[data-test="${select}"]`).click();
  await page.locator('.n-base-select-option').filter({ hasText: option }).first().click();
}

/**
 * Picks an event type in the type filter (a list grouped by stream kind, virtually scrolled: typed
 * to find it, as an admin would) and closes the list.
 */
async function pickType(page: Page, type: string) {
  await page.locator('[data-test="filter-type"]').click();
  await page.keyboard.type(type);
  await page
    .locator('.n-base-select-option')
    .filter({ hasText: new RegExp(`^${type}$`) })
    .click();
  await page.keyboard.press('Escape');
}

/** Clicks a download link or button and returns the file's text. */
async function download(page: Page, button: string): Promise<{ name: string; text: string }> {
  const [file] = await Promise.all([
    page.waitForEvent('download'),
    page.locator(`[data-test="${button}"]`).click(),
  ]);
  return { name: file.suggestedFilename(), text: await readFile((await file.path())!, 'utf8') };
}

describe('an admin with drift healed by the platform', () => {
  it('sees a container stopped by hand come back, its drift in the history as resolved', async () => {
    const { tianqi, page } = suite;
    const created = await runningInstance(tianqi, 'frank', 'audited');
    instanceId = created.instanceId;
    await page.goto(`${tianqi.url}/admin/drift`);
    await signIn(page, ADMIN.username, ADMIN.password);
    await expect
      .poll(() => page.locator('[data-test="drift-policy"]').getAttribute('data-policy'))
      .toBe('heal');
    const { containerId } = await created.user.instances.get.query({ instanceId });
    await dockerStop(containerId!);
    // Seen and healed within a sync or two: the page shows it without being reloaded.
    const healed = page.locator('[data-test="drift-history-row"][data-open="false"]');
    await expect.poll(() => healed.count(), { timeout: 40_000 }).toBe(1);
    expect(await healed.textContent()).toMatch(/Container stopped.*audited.*gpu-tls.*should run/);
    expect(await page.locator('[data-test="drift-row"]').count()).toBe(0);
    expect((await created.user.instances.get.query({ instanceId })).observed).toBe('running');
    await shot(page, 'admin-drift-en');
    // Some history to look back on: frank stops it.
    await created.user.instances.stop.mutate({ instanceId });
    await expect
      .poll(async () => (await created.user.instances.get.query({ instanceId })).observed)
      .toBe('exited');
  });
});

describe('an admin reading the audit log', () => {
  it('filters by actor and type, and downloads just those rows as CSV', async () => {
    const { tianqi, page } = suite;
    await page.locator('.n-menu').getByText('Audit log').click();
    await expect.poll(() => page.locator('[data-test="audit-row"]').count()).toBeGreaterThan(10);
    await shot(page, 'admin-audit-en');
    await choose(page, 'filter-actor', 'frank');
    // Every type, grouped by the kind of stream that records it.
    await page.locator('[data-test="filter-type"]').click();
    await page.locator('.n-base-select-group-header', { hasText: /^Instances$/ }).waitFor();
    await page.keyboard.press('Escape');
    await pickType(page, 'InstanceStopRequested');
    const rows = page.locator('[data-test="audit-row"]');
    await expect.poll(() => rows.count()).toBe(1);
    expect(await page.locator('[data-test="audit-total"]').textContent()).toBe('1 entry');
    await shot(page, 'admin-audit-filtered-en');

    const { name, text } = await download(page, 'export-csv');
    expect(name).toMatch(/^tianqi-audit-.*\.csv$/);
    const [header, ...lines] = text.trim().split('\r\n');
    expect(header).toBe(
      'recordedAt,position,type,streamId,streamVersion,instanceId,actorUserId,actorName,actorIp,commandId,correlationId,summary',
    );
    expect(lines).toHaveLength(1);
    expect(lines[0]).toContain(`,InstanceStopRequested,instance-${instanceId},`);
    expect(lines[0]).toContain(',frank,127.0.0.1,');
    // Two types at once: either one, in the list and in the file.
    await pickType(page, 'InstanceCreated');
    await expect.poll(() => rows.count()).toBe(2);
    const both = (await download(page, 'export-csv')).text.trim().split('\r\n').slice(1);
    expect(both.map((line) => line.split(',')[2]).sort()).toEqual([
      'InstanceCreated',
      'InstanceStopRequested',
    ]);
    // Without the type: every one of frank's entries, as the API counts them.
    await page.locator('[data-test="filter-type"]').hover();
    await page.locator('[data-test="filter-type"] .n-base-clear').click();
    const frank = (await tianqi.admin.users.list.query()).find((u) => u.username === 'frank')!;
    const { total } = await tianqi.admin.audit.list.query({ actorUserId: frank.userId, limit: 1 });
    await expect.poll(() => rows.count()).toBe(total);
    const all = await download(page, 'export-csv');
    expect(all.text.trim().split('\r\n')).toHaveLength(total + 1);
  });

  it('pages without offsets: older, newer and back', async () => {
    const { tianqi, page } = suite;
    // More than a page (50) in all: each image is two events.
    for (let i = 0; i < 15; i++)
      await tianqi.admin.images.create.mutate({ name: `pad-${i}`, address: `registry.local/pad:${i}` });
    await choose(page, 'filter-actor', 'frank'); // picking the same again leaves it chosen
    await page.locator('[data-test="filter-actor"] .n-base-clear').click({ force: true });
    const rows = page.locator('[data-test="audit-row"]');
    await expect.poll(() => rows.count()).toBeGreaterThan(10);
    const firstPage = await rows.first().textContent();
    const total = Number(/\d+/.exec((await page.locator('[data-test="audit-total"]').textContent())!)![0]);
    expect(total).toBeGreaterThan(50);
    await page.locator('[data-test="older"]').click();
    await expect.poll(() => rows.first().textContent()).not.toBe(firstPage);
    expect(await rows.count()).toBe(Math.min(50, total - 50));
    await page.locator('[data-test="newer"]').click();
    await expect.poll(() => rows.first().textContent()).toBe(firstPage);
  });

  it("opens the instance's history at the moment of a row", async () => {
    const { page } = suite;
    await choose(page, 'filter-instance', 'audited');
    await pickType(page, 'ContainerStarted');
    const rows = page.locator('[data-test="audit-row"]');
    // Started at creation and again when the drift was healed: the older one is the first start.
    await expect.poll(() => rows.count()).toBe(2);
    await rows.nth(1).locator('[data-test="open-moment"]').click();
    await page.waitForURL(
      (u) => u.pathname === `/instances/${instanceId}/history` && u.searchParams.has('position'),
    );
    const pastState = page.locator('[data-test="past-state"]');
    await expect.poll(() => pastState.textContent()).toMatch(/running \/ running/i);
    // The slider stands at that event, not at the end (the instance is stopped now).
    const marked = page.locator('.n-timeline-item--success-type');
    expect(await marked.textContent()).toContain('ContainerStarted');
    expect(await page.locator('[data-test="history-entry"]').last().textContent()).not.toContain(
      'ContainerStarted',
    );
    await shot(page, 'admin-audit-moment-en');
  });

  it("lists everyone's terminal recordings and plays one back", async () => {
    const { tianqi, page, browser } = suite;
    await page.goto(`${tianqi.url}/admin/audit`);
    await page.locator('.n-tabs-tab').filter({ hasText: 'Terminal recordings' }).click();
    await expect
      .poll(() => page.locator('[data-test="audit-recordings"]').textContent())
      .toContain('No terminal recordings yet');
    // frank starts his instance again and uses its terminal in his own browser.
    await tianqi.admin.instances.start.mutate({ instanceId });
    await expect
      .poll(async () => (await tianqi.admin.instances.get.query({ instanceId })).observed, {
        timeout: 60_000,
      })
      .toBe('running');
    const frank = await openPage(browser, 'en');
    await frank.goto(`${tianqi.url}/instances/${instanceId}/terminal`);
    await signIn(frank, 'frank');
    await expect
      .poll(() => frank.locator('[data-test="terminal-status"]').textContent(), { timeout: 60_000 })
      .toBe('');
    await frank.locator('[data-test="terminal"]').click();
    await frank.keyboard.type('echo recorded-$((6*7))\n');
    await expect.poll(() => frank.locator('.xterm-rows').textContent()).toContain('recorded-42');
    await frank.keyboard.type('exit\n');
    await expect.poll(() => frank.locator('[data-test="terminal-status"]').textContent()).toMatch(/\S/);
    await frank.context().close();

    await page.reload();
    await page.locator('.n-tabs-tab').filter({ hasText: 'Terminal recordings' }).click();
    const row = page.locator('[data-test="audit-recordings"] tbody tr');
    await expect.poll(() => row.count()).toBe(1);
    expect(await row.textContent()).toMatch(/frank.*audited.*web/);
    await row.locator('[data-test="play"]').click();
    await expect.poll(() => page.locator('[data-test="player"]').textContent()).toContain('recorded-42');
    await shot(page, 'admin-audit-recordings-en');
  });
});

describe('an admin reading usage', () => {
  it('shows who ran what, the totals, a chart per day and a CSV of the rows', async () => {
    const { tianqi, page } = suite;
    await page.goto(`${tianqi.url}/admin/usage`);
    const userRows = page.locator('[data-test="usage-user-row"]');
    await expect.poll(() => userRows.count()).toBe(1);
    expect(await userRows.textContent()).toMatch(/^frank1/);
    expect(await page.locator('[data-test="usage-chart"]').count()).toBe(0); // not until asked for
    await page.locator('[data-test="show-chart"]').click();
    await expect.poll(() => page.locator('[data-test="usage-chart"] canvas').count()).toBe(1);
    await page.locator('.n-tabs-tab').filter({ hasText: 'By instance' }).click();
    const instanceRows = page.locator('[data-test="usage-instance-row"]');
    await expect.poll(() => instanceRows.count()).toBe(1);
    expect(await instanceRows.textContent()).toMatch(/^auditedfrank¥0\.5\/hour/);
    await shot(page, 'admin-usage-en');
    const { name, text } = await download(page, 'usage-csv');
    expect(name).toMatch(/^tianqi-usage-instances-\d{4}-\d\d-\d\d-\d{4}-\d\d-\d\d\.csv$/);
    const [header, line, ...rest] = text
      .replace(/^\uFEFF/, '')
      .trim()
      .split('\r\n');
    expect(header).toBe('Instance,User,Price,Running hours,Cost (CNY)');
    expect(line).toMatch(/^audited,frank,0\.5,[\d.]+,[\d.]+$/);
    expect(rest).toEqual([]);
  });
});
