import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, shot } from './support/browser.js';
import { type RunningTianqi, startTianqi } from './support/platform.js';

let tianqi: RunningTianqi;
let browser: Browser;

beforeAll(async () => {
  tianqi = await startTianqi({ admin: false });
  browser = await launch();
});
afterAll(async () => {
  await browser?.close();
  await tianqi?.stop();
});

describe('the first run of a new platform', () => {
  it('asks for the setup code the server printed, makes the first admin, and the page is gone after', async () => {
    const code = (await readFile(join(tianqi.dataDir, 'setup-code'), 'utf8')).trim();
    expect(tianqi.output()).toContain(code);
    // The same page for a Chinese browser, dark: a picture only.
    const zh = await browser.newContext({
      viewport: { width: 1280, height: 720 },
      locale: 'zh-CN',
      colorScheme: 'dark',
    });
    const zhPage = await zh.newPage();
    await zhPage.goto(`${tianqi.url}/`);
    await zhPage.waitForURL(/\/setup$/);
    await expect.poll(() => zhPage.locator('[data-test="setup"]').textContent()).toContain('设置天启');
    await shot(zhPage, 'setup.zh-CN.dark');
    await zh.close();
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, locale: 'en-US' });
    const page = await context.newPage();
    await page.goto(`${tianqi.url}/`);
    await page.waitForURL(/\/setup$/);
    await shot(page, 'setup.en');
    // A wrong code is refused, and what was typed stays.
    await page.getByLabel('Setup code').fill('WRONG-CODE-0000-0000');
    await page.getByLabel('Admin username').fill('root');
    await page.getByLabel('Password').fill('root-password-1');
    await page.locator('[data-test="setup-submit"]').click();
    await expect
      .poll(() => page.locator('[data-test="error"]').textContent())
      .toContain('You may not do this');
    expect(await page.getByLabel('Admin username').inputValue()).toBe('root');
    await page.getByLabel('Setup code').fill(code);
    // Each wrong code spaces the next try (as failed sign-ins do): the page says how long, and the
    // button is let go once that has passed.
    const submit = page.locator('[data-test="setup-submit"]');
    for (let tries = 0; tries < 5; tries++) {
      await expect.poll(async () => (await submit.count()) === 0 || (await submit.isEnabled())).toBe(true);
      if ((await submit.count()) === 0) break;
      await submit.click();
      await expect
        .poll(
          async () => (await submit.count()) === 0 || (await page.locator('[data-test="wait"]').count()) > 0,
        )
        .toBe(true);
    }
    await page.waitForURL(/\/instances$/);
    await expect.poll(() => page.locator('[data-test="me"]').textContent()).toContain('root · admin');
    // Signed out, a visitor gets the sign-in page, never the setup page again.
    await page.locator('[data-test="sign-out"]').click();
    await page.goto(`${tianqi.url}/setup`);
    await page.waitForURL(/\/sign-in/);
    await context.close();
  });
});
