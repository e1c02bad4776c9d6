import { loadTestNodes } from '@tianqi/infra';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { openPage, shot } from './support/browser.js';
import { ADMIN, client, gpuCatalog } from './support/platform.js';
import { signIn } from './support/sign-in.js';
import { useBrowserSuite } from './support/suite.js';

// The admin's catalog and accounts in the browser: images and specs made and edited with a refused
// field shown in place, the nodes that could host a spec and why the others cannot, and a user
// disabled while their web terminal is open, enabled again and signed in with a reset password.
const plain = loadTestNodes().nodes.find((n) => !n.tls)!;
const suite = useBrowserSuite('en', async (tianqi) => {
  await gpuCatalog(tianqi.admin);
  // A node without GPUs beside the GPU one: a GPU spec's page says why it cannot host it.
  await tianqi.admin.nodes.register.mutate({
    name: 'cpu-plain',
    cpuCores: 8,
    memoryGb: 16,
    systemDiskGb: 100,
    dockerAddress: `tcp://${plain.host}:${plain.port}`,
    useTls: false,
  });
});
const drawer = () => suite.page.locator('.n-drawer');
/** The form item around the input marked `test`, inside the drawer. */
const item = (test: string) =>
  drawer()
    .locator('.n-form-item')
    .filter({ has: suite.page.locator(`[data-test="${test}"]`) });
const feedback = (test: string) => item(test).locator('.n-form-item-feedback');
const confirmDialog = (p: Page) => p.locator('.n-dialog__action .n-button').last();
/** A picture once drawers, feedback and loading have finished fading in or out. */
async function look(p: Page, name: string) {
  await p.waitForTimeout(500);
  await shot(p, name);
}
const rowOf = (list: string, text: string) =>
  suite.page.locator(`[data-test="${list}"] tbody tr`).filter({ hasText: text });

describe('an admin with the images, the specs and the users', () => {
  it('adds an image: a bad address refused beside its field, what was typed kept; then edits it', async () => {
    const { tianqi, page } = suite;
    await page.goto(`${tianqi.url}/admin/images`);
    await signIn(page, ADMIN.username, ADMIN.password);
    await expect.poll(() => rowOf('image-list', 'bash').count()).toBe(1);
    await page.locator('[data-test="create-image"]').click();
    await page.locator('[data-test="image-name"] input').fill('pytorch');
    await page.locator('[data-test="image-source"] input').fill('official');
    await page.locator('[data-test="image-address"] input').fill('Registry.Example.com/Team/PyTorch 2.3');
    await page.locator('[data-test="image-description"] textarea').fill('PyTorch 2.3 with CUDA 12');
    await page.locator('[data-test="image-save"]').click();
    await expect.poll(() => feedback('image-address').textContent()).toMatch(/image address looks like/);
    expect(await page.locator('[data-test="image-name"] input').inputValue()).toBe('pytorch');
    expect(await page.locator('[data-test="image-description"] textarea').inputValue()).toBe(
      'PyTorch 2.3 with CUDA 12',
    );
    await look(page, 'admin-image-refused-en');
    await page
      .locator('[data-test="image-address"] input')
      .fill('registry.example.com/team/pytorch:2.3-cuda12');
    await page.locator('[data-test="image-save"]').click();
    await expect.poll(() => drawer().isVisible()).toBe(false);
    await expect.poll(() => rowOf('image-list', 'pytorch').textContent()).toContain('official');

    // Edited: slicing on; the list shows it, and the listed toggle in the row takes it off the shelf.
    await page.locator('[data-test="image-edit-pytorch"]').click();
    expect(await page.locator('[data-test="image-address"] input').inputValue()).toBe(
      'registry.example.com/team/pytorch:2.3-cuda12',
    );
    await page.locator('[data-test="image-slicing"]').click();
    await page.locator('[data-test="image-save"]').click();
    await expect.poll(() => drawer().isVisible()).toBe(false);
    await expect.poll(() => rowOf('image-list', 'pytorch').locator('.n-tag').textContent()).toBe('Yes');
    await page.locator('[data-test="image-listed-pytorch"]').click();
    await expect
      .poll(() => page.locator('[data-test="image-listed-pytorch"]').getAttribute('aria-checked'))
      .toBe('false');
    const images = await tianqi.admin.images.list.query({ includeUnlisted: true });
    expect(images.find((i) => i.name === 'pytorch')).toMatchObject({ supportsSlicing: true, listed: false });
    await look(page, 'admin-images-en');

    // Deleted after a confirmation.
    await page.locator('[data-test="image-delete-busybox"]').click();
    await confirmDialog(page).click();
    await expect.poll(() => rowOf('image-list', 'busybox').count()).toBe(0);
  });

  it('adds a spec: GPUs without a model refused beside the model, then a CPU-only spec with VRAM beside the VRAM', async () => {
    const { tianqi, page } = suite;
    await page.goto(`${tianqi.url}/admin/specs`);
    await expect.poll(() => rowOf('spec-list', 'slice-6').count()).toBe(1);
    await page.locator('[data-test="create-spec"]').click();
    await page.locator('[data-test="spec-name"] input').fill('a100-2');
    await page.locator('[data-test="spec-gpuCount"] input').fill('2');
    await page.locator('[data-test="spec-vramGb"] input').fill('40');
    await page.locator('[data-test="spec-pricePerHour"] input').fill('12.5');
    await page.locator('[data-test="spec-save"]').click();
    await expect.poll(() => feedback('spec-gpuModel').textContent()).toMatch(/GPU model is required/);
    expect(await page.locator('[data-test="spec-vramGb"] input').inputValue()).toBe('40');
    await look(page, 'admin-spec-refused-en');
    await page.locator('[data-test="spec-gpuModel"] input').fill('A100');
    await page.locator('[data-test="spec-save"]').click();
    await expect.poll(() => drawer().isVisible()).toBe(false);
    await expect.poll(() => rowOf('spec-list', 'a100-2').textContent()).toMatch(/2 × A100 · 40 GB\/card/);

    // Made CPU-only by an edit while keeping its VRAM: the domain says a CPU-only spec has none.
    await page.locator('[data-test="spec-edit-a100-2"]').click();
    await page.locator('[data-test="spec-gpuCount"] input').fill('0');
    await page.locator('[data-test="spec-save"]').click();
    await expect.poll(() => feedback('spec-vramGb').textContent()).toMatch(/CPU-only spec has no VRAM/);
    expect(await page.locator('[data-test="spec-gpuModel"] input').inputValue()).toBe('A100');
    await page.keyboard.press('Escape');
    await expect.poll(() => drawer().isVisible()).toBe(false);
    await look(page, 'admin-specs-en');
  });

  it("shows a spec's hosting nodes and why the others cannot", async () => {
    const { page } = suite;
    await page.locator('[data-test="spec-gpu-1"]').click();
    await expect.poll(() => page.locator('[data-test="spec-page"]').isVisible()).toBe(true);
    await expect
      .poll(() => page.locator('[data-test="hosting-nodes"] tbody tr').allTextContents())
      .toEqual([expect.stringMatching(/gpu-tls.*RTX 4090/)]);
    const rejected = page.locator('[data-test="rejected-nodes"] tbody tr');
    expect(await rejected.allTextContents()).toEqual([expect.stringMatching(/cpu-plain.*\S/)]);
    expect(await rejected.locator('[data-test="rejected-reason"]').count()).toBeGreaterThan(0);
    await look(page, 'admin-spec-page-en');

    // The A100 spec: no node has its model, each says why.
    await page.goto(`${suite.tianqi.url}/admin/specs`);
    await page.locator('[data-test="spec-a100-2"]').click();
    await expect.poll(() => page.locator('[data-test="hosting-none"]').isVisible()).toBe(true);
    await expect.poll(() => rejected.count()).toBe(2);
  });

  it('adds a user, disables them while their terminal is open (it closes, their next request goes to sign-in), enables them, resets their password', async () => {
    const { tianqi, page, browser } = suite;
    await page.goto(`${tianqi.url}/admin/users`);
    await page.locator('[data-test="create-user"]').click();
    await page.locator('[data-test="user-username"] input').fill('erin');
    await page.locator('[data-test="user-password"] input').fill('short');
    await page.locator('[data-test="user-save"]').click();
    await expect.poll(() => feedback('user-password').textContent()).toMatch(/at least 8 characters/);
    expect(await page.locator('[data-test="user-username"] input').inputValue()).toBe('erin');
    await page.locator('[data-test="user-password"] input').fill('erin-password');
    await page.locator('[data-test="user-save"]').click();
    await expect.poll(() => drawer().isVisible()).toBe(false);
    await expect.poll(() => rowOf('user-list', 'erin').textContent()).toMatch(/Active/);

    // Erin has an SSH key and an instance, and a terminal open on it in her own browser.
    const { token } = await client(tianqi.url).auth.login.mutate({
      username: 'erin',
      password: 'erin-password',
      via: 'cli',
    });
    const asErin = client(tianqi.url, token);
    await asErin.auth.addSshKey.mutate({
      publicKey:
        'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGn2u3XQ3pU0eV1mR6w3tJcYQ8wKzX7b2sQ2l0lQyB9a erin@laptop',
    });
    const image = (await asErin.images.list.query()).find((i) => i.name === 'bash')!;
    const spec = (await asErin.specs.list.query()).find((s) => s.name === 'cpu-small')!;
    const { id: instanceId } = await asErin.instances.create.mutate({
      name: 'erin-box',
      imageId: image.imageId,
      specId: spec.specId,
    });
    await expect
      .poll(async () => (await asErin.instances.get.query({ instanceId })).observed, { timeout: 60_000 })
      .toBe('running');
    const erin = await openPage(browser, 'en');
    let terminalClosed = false;
    erin.on('websocket', (ws) => {
      if (ws.url().includes('/terminal')) ws.on('close', () => (terminalClosed = true));
    });
    await erin.goto(`${tianqi.url}/instances/${instanceId}`);
    await signIn(erin, 'erin');
    await erin.locator('.n-tabs-tab', { hasText: 'Terminal' }).click();
    await erin.locator('[data-test="terminal"]').click();
    await expect.poll(() => erin.locator('[data-test="terminal-status"]').textContent()).toBe('');
    await erin.keyboard.type('echo hello-from-erin\n');
    // biome-ignore lint/performance/useDomNodeTextContent: textContent runs the rows together.
    await expect.poll(() => erin.locator('.xterm-rows').innerText()).toMatch(/\nhello-from-erin\s*\n/);

    // Her page: the key's fingerprint and the instance, linking to its page.
    await page.locator('[data-test="user-erin"]').click();
    await expect.poll(() => page.locator('[data-test="user-page"]').isVisible()).toBe(true);
    await expect.poll(() => page.locator('[data-test="ssh-fingerprint"]').textContent()).toMatch(/^SHA256:/);
    await expect.poll(() => page.locator('[data-test="instance-erin-box"]').isVisible()).toBe(true);
    await look(page, 'admin-user-page-en');

    await page.locator('[data-test="user-disable-erin"]').click();
    await confirmDialog(page).click();
    await expect
      .poll(() => page.locator('[data-test="user-state"]').getAttribute('data-disabled'))
      .toBe('true');
    await expect.poll(() => terminalClosed).toBe(true);
    // Her next request finds the session gone: she is sent to sign in (her page's live watch may be
    // that request, before any click).
    await erin
      .locator('.n-tabs-tab', { hasText: 'Overview' })
      .click({ timeout: 2_000 })
      .catch(() => undefined);
    await erin.waitForURL((u) => u.pathname === '/sign-in');

    await page.locator('[data-test="user-enable-erin"]').click();
    await expect
      .poll(() => page.locator('[data-test="user-state"]').getAttribute('data-disabled'))
      .toBe('false');
    await page.locator('[data-test="user-reset-erin"]').click();
    await page.locator('[data-test="reset-password"] input').fill('erin-new-password');
    await look(page, 'admin-user-reset-en');
    await page.locator('[data-test="reset-save"]').click();
    await expect.poll(() => page.locator('[data-test="reset-form"]').isVisible()).toBe(false);

    await signIn(erin, 'erin', 'erin-new-password');
    // Back where she was sent from (her instance's page), signed in again.
    expect(new URL(erin.url()).pathname).toMatch(new RegExp(`^/instances/${instanceId}`));
    await erin.context().close();

    await page.goto(`${tianqi.url}/admin/users`);
    await expect.poll(() => rowOf('user-list', 'erin').textContent()).toMatch(/erin.*user.*Active.*1\s*1/);
    await look(page, 'admin-users-en');
  });

  it('reads each page in Chinese', async () => {
    const { tianqi, browser } = suite;
    const zh = await openPage(browser, 'zh-CN');
    await zh.goto(`${tianqi.url}/admin/images`);
    await signIn(zh, ADMIN.username, ADMIN.password);
    await expect.poll(() => zh.locator('.n-menu').textContent()).toMatch(/镜像库.*产品规格.*用户/);
    await expect.poll(() => zh.locator('[data-test="image-list"] tbody tr').count()).toBe(2);
    await look(zh, 'admin-images.zh-CN');
    await zh.locator('[data-test="create-image"]').click();
    await look(zh, 'admin-image-form.zh-CN');
    await zh.keyboard.press('Escape');
    await zh.goto(`${tianqi.url}/admin/specs`);
    await expect.poll(() => zh.locator('[data-test="spec-list"] tbody tr').count()).toBe(4);
    await look(zh, 'admin-specs.zh-CN');
    await zh.locator('[data-test="spec-edit-slice-6"]').click();
    await look(zh, 'admin-spec-form.zh-CN');
    await zh.keyboard.press('Escape');
    await zh.locator('[data-test="spec-slice-6"]').click();
    await expect.poll(() => zh.locator('[data-test="rejected-nodes"]').isVisible()).toBe(true);
    await look(zh, 'admin-spec-page.zh-CN');
    await zh.goto(`${tianqi.url}/admin/users`);
    await expect.poll(() => zh.locator('[data-test="user-list"] tbody tr').count()).toBe(2);
    await look(zh, 'admin-users.zh-CN');
    await zh.locator('[data-test="user-erin"]').click();
    await expect.poll(() => zh.locator('[data-test="instance-erin-box"]').isVisible()).toBe(true);
    await look(zh, 'admin-user-page.zh-CN');
    await zh.context().close();
  });
});
