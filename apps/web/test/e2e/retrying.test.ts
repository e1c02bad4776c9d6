import { freePort } from '@tianqi/infra';
import type { Page } from 'playwright-core';
import { describe, expect, it } from 'vitest';
import { shot } from './support/browser.js';
import { client, gpuCatalog } from './support/platform.js';
import { signIn } from './support/sign-in.js';
import { useBrowserSuite } from './support/suite.js';

// When the platform cannot carry out what a user asked (here: its node's Docker stops answering),
// the user sees why and when it tries again, without a reload; and sees it end when it gets through.
const suite = useBrowserSuite('en', async (tianqi) => {
  await gpuCatalog(tianqi.admin);
  await tianqi.user('carol');
});

const observed = (p: Page) =>
  p.locator('[data-test="instance-page"] [data-observed]').first().getAttribute('data-observed');

describe('a user whose instance the platform cannot reach', () => {
  it('sees the error, its attempts and the next one, on the page and in the list, until it gets through', async () => {
    const { tianqi, page } = suite;
    const { token } = await client(tianqi.url).auth.login.mutate({
      username: 'carol',
      password: 'carol-password',
      via: 'cli',
    });
    const carol = client(tianqi.url, token);
    const [image] = (await carol.images.list.query()).filter((i) => i.name === 'busybox');
    const [spec] = (await carol.specs.list.query()).filter((s) => s.name === 'cpu-small');
    const { id } = await carol.instances.create.mutate({
      name: 'stuck',
      imageId: image!.imageId,
      specId: spec!.specId,
    });
    await page.goto(`${tianqi.url}/instances/${id}`);
    await signIn(page, 'carol');
    await expect.poll(() => observed(page)).toBe('running');

    // The node's Docker goes away (an address where nothing listens), then the user stops it.
    const [node] = await tianqi.admin.nodes.list.query();
    const address = node!.dockerAddress;
    await tianqi.admin.nodes.update.mutate({
      nodeId: node!.nodeId,
      changes: { dockerAddress: `tcp://127.0.0.1:${await freePort()}` },
    });
    await page.locator('[data-test="action-stop"]').click();
    const alert = page.locator('[data-test="retrying"]');
    await expect.poll(() => alert.isVisible()).toBe(true);
    await expect
      .poll(() => page.locator('[data-test="retrying-reason"]').textContent())
      .toMatch(/^node gpu-tls( is down|: connection refused)/);
    // The attempts and the next one are counted as the retries go on.
    await expect
      .poll(() => page.locator('[data-test="retrying-when"]').textContent())
      .toMatch(/since .* · \d+ attempts? · (next attempt in \d+ s|trying again…)/);
    expect(await observed(page)).toBe('running');
    await shot(page, 'instance-retrying-en');

    await page.goto(`${tianqi.url}/instances`);
    await expect.poll(() => page.locator('[data-test="retrying-tag"]').count()).toBe(1);
    await shot(page, 'instances-retrying-en');

    // Docker is back: the stop goes through and the error is gone, without a reload.
    await page.goto(`${tianqi.url}/instances/${id}`);
    await tianqi.admin.nodes.update.mutate({ nodeId: node!.nodeId, changes: { dockerAddress: address } });
    await expect.poll(() => observed(page), { timeout: 60_000 }).toBe('exited');
    await expect.poll(() => alert.count()).toBe(0);
  });
});
