import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll } from 'vitest';
import { launch, openPage, shotOnFailure } from './browser.js';
import { type RunningTianqi, startTianqi } from './platform.js';

export interface BrowserSuite {
  tianqi: RunningTianqi;
  browser: Browser;
  /** The suite's page, in the language asked for. */
  page: Page;
}

/**
 * A test file's platform and browser: a real `tianqi start` set up by `setup`, chromium with one
 * page in `locale`, a picture of the page after each failed test, and all of it stopped at the end.
 */
export function useBrowserSuite(
  locale: string,
  setup: (tianqi: RunningTianqi) => Promise<void>,
  /** Settings for the server (TIANQI_* variables), over startTianqi's. */
  env: Record<string, string> = {},
): BrowserSuite {
  const suite = {} as BrowserSuite;
  beforeAll(async () => {
    suite.tianqi = await startTianqi({ env });
    await setup(suite.tianqi);
    suite.browser = await launch();
    suite.page = await openPage(suite.browser, locale);
  });
  shotOnFailure(() => suite.page);
  afterAll(async () => {
    await suite.browser?.close();
    await suite.tianqi?.stop();
  });
  return suite;
}
