import type { Page } from 'playwright-core';
import { expect } from 'vitest';

/**
 * Signs in through the form. After a failed attempt the next one from this address is spaced (the
 * limiter's rule): the page then shows the wait and lets the button go when it has passed.
 */
export async function signIn(p: Page, name: string, password = `${name}-password`) {
  await p.getByLabel(/用户名|Username/).fill(name);
  await p.getByLabel(/密码|Password/).fill(password);
  const submit = p.getByRole('button', { name: /^(登录|Sign in)$/ });
  for (let tries = 0; tries < 5 && new URL(p.url()).pathname === '/sign-in'; tries++) {
    await expect.poll(() => submit.isEnabled()).toBe(true);
    await submit.click();
    await expect
      .poll(
        async () =>
          new URL(p.url()).pathname !== '/sign-in' || (await p.locator('[data-test="wait"]').count()) > 0,
      )
      .toBe(true);
  }
  expect(new URL(p.url()).pathname).not.toBe('/sign-in');
}
