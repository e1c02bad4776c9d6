import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Browser, chromium, type Page } from 'playwright-core';
import { afterEach } from 'vitest';

/** Where screenshots go: test artifacts, not committed (apps/web/test-results is ignored). */
export const SHOTS = fileURLToPath(new URL('../../../test-results/screenshots/', import.meta.url));

/** Debian's chromium, never a downloaded browser. */
export function launch(): Promise<Browser> {
  mkdirSync(SHOTS, { recursive: true });
  return chromium.launch({
    executablePath: process.env.TIANQI_CHROMIUM ?? '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
      '--no-first-run',
    ],
  });
}

/** A picture of the page once its transitions have ended (endless ones, spinners, not waited for). */
export async function shot(page: Page, name: string): Promise<void> {
  await page.evaluate(() =>
    Promise.race([
      Promise.all(
        document
          .getAnimations()
          .filter((a) => a.effect?.getTiming().iterations !== Number.POSITIVE_INFINITY)
          .map((a) => a.finished.catch(() => undefined)),
      ),
      new Promise((done) => setTimeout(done, 1000)),
    ]),
  );
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: false });
}

/** A page in a fresh context (a 1280×720 laptop, this language) whose errors go to the test output. */
export async function openPage(browser: Browser, locale: string): Promise<Page> {
  const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, locale });
  const page = await context.newPage();
  page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
  page.on('console', (m) => m.type() === 'error' && console.error(`page console: ${m.text()}`));
  return page;
}

/** After a failed test, a picture of what the page showed. */
export function shotOnFailure(page: () => Page | undefined): void {
  afterEach(async (ctx) => {
    const p = page();
    if (p && ctx.task.result?.state === 'fail')
      await shot(p, `failed-${ctx.task.name.slice(0, 40).replace(/\W+/g, '-')}`);
  });
}
