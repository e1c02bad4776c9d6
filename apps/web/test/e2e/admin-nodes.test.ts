import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadTestNodes } from '@tianqi/infra';
import { describe, expect, it } from 'vitest';
import { openPage, shot } from './support/browser.js';
import { ADMIN, catalog, client } from './support/platform.js';
import { signIn } from './support/sign-in.js';
import { useBrowserSuite } from './support/suite.js';

// The admin's nodes in the browser: register a TLS node (a wrong CA refused with its reason, then
// fixed), read its GPU map once instances hold its cards, and a user kept out of all of it.
const tls = loadTestNodes().nodes.find((n) => n.tls)!;
const suite = useBrowserSuite('en', (tianqi) => tianqi.user('dave'));
const drawer = () => suite.page.locator('.n-drawer');
/** A form field by its label, inside the drawer. */
const field = (label: string) => drawer().locator('.n-form-item').filter({ hasText: label });

describe('an admin with the nodes', () => {
  it('registers a TLS node: a wrong CA is refused with its reason, the right one connects', async () => {
    const { tianqi, page } = suite;
    const hami = await mkdtemp(join(tmpdir(), 'tianqi-hami-'));
    await writeFile(join(hami, 'libvgpu.so'), '');
    await page.goto(`${tianqi.url}/admin/nodes`);
    await signIn(page, ADMIN.username, ADMIN.password);
    await page.locator('[data-test="register-node"]').click();
    await page.locator('[data-test="node-name"] input').fill('gpu-a');
    await page.locator('[data-test="node-address"] input').fill(`tcp://${tls.host}:${tls.port}`);
    // The client's certificate is no CA: the server's certificate cannot be verified with it.
    await page.locator('[data-test="caCert-input"] textarea').fill(tls.cert!);
    await page.locator('[data-test="clientCert-input"] textarea').fill(tls.cert!);
    await page.locator('[data-test="clientKey-input"] textarea').fill(tls.key!);
    await field('GPU model').locator('input').fill('RTX 4090');
    await field('GPU count').locator('input').fill(String(tls.gpuCount));
    await field('VRAM per GPU').locator('input').fill('24');
    await field('HAMi-core directory').locator('input').fill(hami);
    await shot(page, 'admin-node-register-en');
    await page.locator('[data-test="node-save"]').click();
    const connection = page.locator('[data-test="node-connection"]');
    await expect.poll(() => connection.getAttribute('data-status')).toBe('failed');
    expect(await connection.textContent()).toMatch(/certificate/i);
    // The list behind shows it failed, with the reason in words.
    await expect
      .poll(() =>
        page.locator('[data-test="node-list"] [data-test="node-status"]').first().getAttribute('data-status'),
      )
      .toBe('failed');

    // Still open, now editing the node it made: the material is write-only, shown as set.
    await expect.poll(() => page.locator('[data-test="caCert-state"]').textContent()).toBe('Set');
    // Nothing written is shown back, in the page or in any field.
    expect(await drawer().textContent()).not.toContain('PRIVATE KEY');
    expect(
      await drawer()
        .locator('textarea, input')
        .evaluateAll((els) => els.map((e) => (e as HTMLInputElement).value)),
    ).not.toContainEqual(expect.stringContaining('PRIVATE KEY'));
    await page.locator('[data-test="caCert-replace"]').click();
    await page.locator('[data-test="caCert-input"] textarea').fill(tls.ca!);
    await page.locator('[data-test="node-save"]').click();
    await expect.poll(() => connection.getAttribute('data-status')).toBe('connected');
    expect(await connection.textContent()).toMatch(/Connected, Docker \d/);
    await page.keyboard.press('Escape');
    await expect.poll(() => drawer().isVisible()).toBe(false);
    await expect
      .poll(() =>
        page.locator('[data-test="node-list"] [data-test="node-status"]').first().getAttribute('data-status'),
      )
      .toBe('connected');
    await shot(page, 'admin-nodes-en');
  });

  it('refuses a field in place, keeping what was typed', async () => {
    const { page } = suite;
    await page.locator('[data-test="register-node"]').click();
    await page.locator('[data-test="node-name"] input').fill('bad-node');
    await page.locator('[data-test="node-address"] input').fill('ftp://nowhere');
    await page.locator('[data-test="node-save"]').click();
    const item = field('Docker address');
    await expect.poll(() => item.locator('.n-form-item-feedback').textContent()).toMatch(/\S/);
    expect(await page.locator('[data-test="node-name"] input').inputValue()).toBe('bad-node');
    await shot(page, 'admin-node-refused-en');
    await page.keyboard.press('Escape');
    await expect.poll(() => drawer().isVisible()).toBe(false);
  });

  it("reads the node's GPU map: a whole card and two slices, each linking to its instance", async () => {
    const { tianqi, page } = suite;
    await catalog(tianqi.admin);
    const { token } = await client(tianqi.url).auth.login.mutate({ ...ADMIN, via: 'cli' });
    const admin = client(tianqi.url, token);
    const image = (await admin.images.list.query()).find((i) => i.name === 'bash')!;
    const specs = await admin.specs.list.query();
    const spec = (name: string) => specs.find((s) => s.name === name)!.specId;
    const create = (name: string, specName: string) =>
      admin.instances.create.mutate({ name, imageId: image.imageId, specId: spec(specName) });
    await create('whole-one', 'gpu-1');
    await create('slice-one', 'slice-6');
    await create('slice-two', 'slice-6');

    await page.locator('[data-test="node-gpu-a"]').click();
    await expect.poll(() => page.locator('[data-test="gpu-map"]').isVisible()).toBe(true);
    await expect
      .poll(() => page.locator('[data-test="gpu-whole"]').allTextContents())
      .toEqual([expect.stringContaining('whole-one')]);
    const slices = page.locator('[data-test="gpu-slice"]');
    await expect.poll(() => slices.count()).toBe(2);
    expect((await slices.allTextContents()).join(' ')).toMatch(
      /slice-(one|two).*6 GB · SM \d+%.*slice-(one|two)/,
    );
    await shot(page, 'admin-node-page-en');
    await page.locator('[data-test="gpu-whole"]').click();
    await page.waitForURL((u) => u.pathname.startsWith('/instances/'));
    expect(await page.locator('[data-test="instance-page"]').textContent()).toContain('whole-one');
  });

  it('lands on the fleet overview, which follows the fleet live', async () => {
    const { tianqi, page } = suite;
    await page.goto(`${tianqi.url}/`);
    await page.waitForURL((u) => u.pathname === '/admin');
    const fleet = page.locator('[data-test="fleet"]');
    await expect.poll(() => fleet.locator('[data-test="fleet-gpus"]').textContent()).toContain('6 of 8 free');
    expect(await fleet.locator('[data-test="fleet-nodes"] [data-part="connected"]').textContent()).toMatch(
      /1$/,
    );
    const instances = () => fleet.locator('[data-test="fleet-instances"] .n-statistic-value').textContent();
    expect((await instances())?.trim()).toBe('3');
    await shot(page, 'admin-overview-en');
    // Another instance, made elsewhere: the page shows it without being reloaded.
    const { token } = await client(tianqi.url).auth.login.mutate({ ...ADMIN, via: 'cli' });
    const admin = client(tianqi.url, token);
    const image = (await admin.images.list.query()).find((i) => i.name === 'busybox')!;
    const spec = (await admin.specs.list.query()).find((s) => s.name === 'cpu-small')!;
    await admin.instances.create.mutate({ name: 'one-more', imageId: image.imageId, specId: spec.specId });
    await expect.poll(async () => (await instances())?.trim()).toBe('4');
  });

  it('shows the fleet, the nodes and a node in Chinese too (screenshots to look at)', async () => {
    const { tianqi, browser } = suite;
    const zh = await openPage(browser, 'zh-CN');
    await zh.goto(`${tianqi.url}/admin`);
    await signIn(zh, ADMIN.username, ADMIN.password);
    await zh.waitForURL((u) => u.pathname === '/admin');
    await expect.poll(() => zh.locator('[data-test="fleet-gpus"]').textContent()).toContain('空闲');
    await shot(zh, 'admin-overview.zh-CN');
    await zh.goto(`${tianqi.url}/admin/nodes`);
    await expect
      .poll(() => zh.locator('[data-test="node-status"]').first().textContent())
      .toContain('已连接');
    await shot(zh, 'admin-nodes.zh-CN');
    await zh.locator('[data-test="node-gpu-a"]').click();
    await expect.poll(() => zh.locator('[data-test="gpu-whole"]').count()).toBe(1);
    expect(await zh.locator('[data-test="node-page"]').textContent()).toContain('整卡');
    await shot(zh, 'admin-node-page.zh-CN');
    await zh.context().close();
  });

  it('is the only one who sees them: a user has no admin menu, and an admin URL says "no access"', async () => {
    const { tianqi, browser } = suite;
    const dave = await openPage(browser, 'zh-CN');
    await dave.goto(`${tianqi.url}/admin/nodes`);
    await signIn(dave, 'dave');
    await expect.poll(() => dave.locator('[data-test="no-access"]').isVisible()).toBe(true);
    expect(await dave.locator('.n-menu').textContent()).not.toMatch(/管理|算力节点/);
    await shot(dave, 'user-no-access.zh-CN');
    await dave.context().close();
  });
});
