import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, openPage, shot, shotOnFailure } from './support/browser.js';
import { gpuCatalog, type RunningTianqi, startTianqi } from './support/platform.js';
import { signIn } from './support/sign-in.js';

// A user's whole day in the browser, against a real `tianqi start`, real PostgreSQL and the real
// Docker test nodes: sign in, create three kinds of instance, watch them run, use them, end them.
let tianqi: RunningTianqi;
let browser: Browser;
let context: BrowserContext;
let page: Page;

beforeAll(async () => {
  tianqi = await startTianqi();
  await gpuCatalog(tianqi.admin);
  await tianqi.user('alice');
  await tianqi.user('bob');
  browser = await launch();
  page = await openPage(browser, 'zh-CN');
  context = page.context();
});
shotOnFailure(() => page);

afterAll(async () => {
  await browser?.close();
  await tianqi?.stop();
});

/** Walks the wizard: image, spec, node (automatic unless named), name; stops before Create. */
async function fillWizard(p: Page, o: { image: string; spec: string; name: string; node?: string }) {
  await p.goto(`${tianqi.url}/instances/new`);
  await p.locator(`[data-test="image-${o.image}"]`).click();
  await p.locator('[data-test="next"]').click();
  await p.locator(`[data-test="spec-${o.spec}"]`).click();
  await p.locator('[data-test="next"]').click();
  if (o.node) await p.locator(`[data-test="node-${o.node}"]`).click();
  await p.locator('[data-test="next"]').click();
  await p.locator('[data-test="name"] input').fill(o.name);
  await expect.poll(() => p.locator('[data-test="next"]').isEnabled()).toBe(true);
  await p.locator('[data-test="next"]').click();
}

/** The terminal's screen, a line per row. */
function screenText(p: Page): Promise<string> {
  // biome-ignore lint/performance/useDomNodeTextContent: textContent runs the rows together.
  return p.locator('.xterm-rows').innerText();
}

async function stateOf(p: Page): Promise<string> {
  return (await p.locator('[data-test="instance-page"] [data-test="state"]').first().textContent()) ?? '';
}

describe('a user in the browser', () => {
  it('is sent to sign in, in Chinese for a Chinese browser, and back to the page asked for', async () => {
    await page.goto(`${tianqi.url}/instances/new`);
    await page.waitForURL(
      (u) => u.pathname === '/sign-in' && u.searchParams.get('redirect') === '/instances/new',
    );
    await expect.poll(() => page.locator('.n-card-header').textContent()).toContain('登录天启');
    await shot(page, 'sign-in.zh-CN');
    await page.getByLabel('密码').fill('wrong');
    await page.getByLabel('用户名').fill('alice');
    await page.getByRole('button', { name: '登录' }).click();
    await expect.poll(() => page.locator('[data-test="error"]').textContent()).toBeTruthy();
    await signIn(page, 'alice');
    expect(new URL(page.url()).pathname).toBe('/instances/new');
  });

  it('creates a CPU-only instance with the wizard, and its page follows it to running', async () => {
    await fillWizard(page, { image: 'bash', spec: 'cpu-small', name: 'web-cpu' });
    await expect.poll(() => page.locator('[data-test="price"]').textContent()).toContain('0.50');
    // The stepper is at its last step, every one before it done.
    await expect
      .poll(() => page.locator('[data-test="stepper-confirm"]').getAttribute('class'))
      .toContain('n-step--process-status');
    expect(await page.locator('.n-steps .n-step--finish-status').count()).toBe(4);
    await shot(page, 'wizard-confirm.zh-CN');
    await page.locator('[data-test="submit"]').click();
    await page.waitForURL((u) => /^\/instances\/(?!new$)[^/]+$/.test(u.pathname));
    await expect.poll(() => stateOf(page), { timeout: 60_000 }).toBe('运行中');
    await expect.poll(() => page.locator('[data-test="gpus"]').first().textContent()).toContain('仅 CPU');
    await shot(page, 'instance-overview.zh-CN');
  });

  it('shows the wizard’s refusals in place, keeping what was typed', async () => {
    await fillWizard(page, { image: 'bash', spec: 'cpu-small', name: 'web-x' });
    await page.locator('[data-test="back"]').click();
    // A taken name is caught as it is typed; the seed's rule too.
    await page.locator('[data-test="name"] input').fill('web-cpu');
    await expect
      .poll(() => page.locator('[data-test="step-name"]').textContent())
      .toContain('这个名称已被使用');
    expect(await page.locator('[data-test="next"]').isEnabled()).toBe(false);
    await page.locator('[data-test="name"] input').fill('有 空格');
    await expect
      .poll(() => page.locator('[data-test="step-name"]').textContent())
      .toContain('不含空格和中文');
    await page.locator('[data-test="name"] input').fill('web-ok');
    await page.locator('[data-test="remark"] textarea').fill('kept');
    await page.locator('[data-test="back"]').click();
    await page.locator('[data-test="next"]').click();
    expect(await page.locator('[data-test="name"] input').inputValue()).toBe('web-ok');
    expect(await page.locator('[data-test="remark"] textarea').inputValue()).toBe('kept');
  });

  it('creates a one-card instance on the TLS node and a slice, and the list shows their GPUs live', async () => {
    await fillWizard(page, { image: 'bash', spec: 'gpu-1', name: 'web-gpu', node: 'gpu-tls' });
    await page.locator('[data-test="submit"]').click();
    await page.waitForURL((u) => /^\/instances\/(?!new$)[^/]+$/.test(u.pathname));
    await fillWizard(page, { image: 'bash', spec: 'slice-6', name: 'web-slice' });
    await page.locator('[data-test="submit"]').click();
    await page.waitForURL((u) => /^\/instances\/(?!new$)[^/]+$/.test(u.pathname));
    await page.goto(`${tianqi.url}/instances`);
    const row = (name: string) =>
      page.locator('tr', { has: page.locator('[data-test="instance-name"]', { hasText: name }) });
    await expect
      .poll(() => row('web-gpu').locator('[data-test="gpus"]').textContent())
      .toMatch(/^卡 \d+ · RTX 4090$/);
    await expect
      .poll(() => row('web-slice').locator('[data-test="gpus"]').textContent())
      .toMatch(/切分 6 GB/);
    // No reload: the watch subscription brings them to running.
    for (const name of ['web-gpu', 'web-slice']) {
      await expect
        .poll(() => row(name).locator('[data-test="state"]').textContent(), { timeout: 60_000 })
        .toBe('运行中');
    }
    await shot(page, 'instance-list.zh-CN');
  });

  it('stops, starts and restarts from the list, and deletes after the name is typed', async () => {
    const row = page.locator('tr', {
      has: page.locator('[data-test="instance-name"]', { hasText: 'web-slice' }),
    });
    await row.locator('[data-test="action-stop"]').click();
    await expect
      .poll(() => row.locator('[data-test="state"]').textContent(), { timeout: 60_000 })
      .toBe('已退出');
    await row.locator('[data-test="action-start"]').click();
    await expect
      .poll(() => row.locator('[data-test="state"]').textContent(), { timeout: 60_000 })
      .toBe('运行中');
    await row.locator('[data-test="more"]').click();
    await page.getByText('重启', { exact: true }).click();
    await expect
      .poll(() => page.locator('.n-message').last().textContent())
      .toContain('已提交：重启 web-slice');
    await row.locator('[data-test="more"]').click();
    await page.getByText('删除', { exact: true }).click();
    const dialog = page.locator('.n-dialog');
    const confirm = dialog.getByRole('button', { name: '删除' });
    expect(await confirm.isDisabled()).toBe(true);
    await dialog.locator('input').fill('web-slice');
    await confirm.click();
    await expect.poll(() => row.count(), { timeout: 60_000 }).toBe(0);
  });

  it('opens a terminal: Chinese is typed and edited as characters, stty size follows the window', async () => {
    await page.goto(`${tianqi.url}/instances`);
    await page.locator('[data-test="instance-name"]', { hasText: 'web-cpu' }).click();
    await page.locator('.n-tabs-tab', { hasText: '终端' }).click();
    await page.locator('[data-test="terminal"]').click();
    await expect.poll(() => page.locator('[data-test="terminal-status"]').textContent()).toBe('');
    // Typed CJK reaches bash as characters: one Backspace takes off the whole last 好, not one byte.
    await page.keyboard.type('echo 你好好');
    await page.keyboard.press('Backspace');
    await page.keyboard.type(' && echo from-the-shell > /proc/1/fd/1');
    // A coloured word and a progress line for the logs pane.
    await page.keyboard.type(
      " && printf 'ansi-\\033[31mred\\033[0m\\n 10%%\\r100%% done\\n' > /proc/1/fd/1\n",
    );
    await expect.poll(() => screenText(page), { timeout: 20_000 }).toMatch(/\n你好\s*\n/);
    await page.keyboard.type('stty size\n');
    await expect.poll(() => screenText(page)).toMatch(/\n\d+ \d+\s*\n/);
    const before = /\n(\d+ \d+)\s*\n/.exec(await screenText(page))![1];
    await page.setViewportSize({ width: 1000, height: 640 });
    await page.keyboard.type('clear; stty size\n');
    await expect.poll(async () => /\n?(\d+ \d+)\s*\n/.exec(await screenText(page))?.[1]).not.toBe(before);
    await shot(page, 'instance-terminal.zh-CN');
    await page.setViewportSize({ width: 1280, height: 720 });
  });

  it('edits a file with vim in the terminal, Chinese included, and saves it with :wq', async () => {
    await page.keyboard.type('clear; vim /tmp/note.txt\n');
    await expect.poll(() => screenText(page)).toMatch(/"\/tmp\/note\.txt" \[New/);
    await page.keyboard.type('ihello 世界');
    await expect.poll(() => screenText(page)).toContain('hello 世界');
    await shot(page, 'instance-terminal-vim.zh-CN');
    await page.keyboard.press('Escape');
    await page.keyboard.type(':wq\n');
    // Typed before vim has gone, the next line would be vim's: wait until its screen is left.
    await expect.poll(() => screenText(page)).not.toContain('hello 世界');
    // What vim wrote, as the shell reads it back: the text, and its size in UTF-8 (6 + 2 × 3 + \n).
    await page.keyboard.type('cat /tmp/note.txt; wc -c < /tmp/note.txt\n');
    await expect.poll(() => screenText(page)).toMatch(/\nhello 世界\s*\n13\s*\n/);
  });

  it('follows the logs and finds a line', async () => {
    await page.locator('.n-tabs-tab', { hasText: '日志' }).click();
    await expect
      .poll(() => page.locator('[data-test="logs"]').textContent(), { timeout: 20_000 })
      .toContain('from-the-shell');
    await page.locator('[data-test="log-search"] input').fill('from-the');
    await expect.poll(() => page.locator('[data-test="match-count"]').textContent()).toBe('1 处匹配');
    // Colours as spans, the progress line as it last stood, no escape codes shown.
    const line = (text: RegExp) => page.locator('[data-test="log-line"]', { hasText: text });
    await expect.poll(() => line(/^ansi-red\s*$/).count()).toBe(1);
    const red = line(/^ansi-red\s*$/).locator('span', { hasText: 'red' });
    expect(await red.evaluate((e) => getComputedStyle(e).color)).toBe('rgb(204, 0, 0)');
    expect(await line(/^100% done\s*$/).count()).toBe(1);
    await shot(page, 'instance-logs.zh-CN');
  });

  it('shows live figures as bars', async () => {
    await page.locator('.n-tabs-tab', { hasText: '监控' }).click();
    await expect.poll(() => page.locator('[data-test="cpu-bar"]').count(), { timeout: 30_000 }).toBe(1);
    await expect.poll(() => page.locator('[data-test="pids"]').textContent()).toMatch(/\d/);
    await shot(page, 'instance-monitoring.zh-CN');
  });

  it('shows the history, and the slider shows the instance as it was', async () => {
    await page.locator('.n-tabs-tab', { hasText: '历史' }).click();
    await expect.poll(() => page.locator('[data-test="history-entry"]').count()).toBeGreaterThan(2);
    // Said in Chinese from the events' data (the server's summary is English, for the CLI).
    const entries = page.locator('[data-test="history-entry"]');
    await expect.poll(() => entries.first().textContent()).toMatch(/已分配 仅 CPU|创建实例 web-cpu/);
    expect(await entries.allTextContents()).toContainEqual(expect.stringContaining('容器运行中'));
    // At first the slider is at now; moved to the first event, it shows the instance as created.
    await expect
      .poll(() => page.locator('[data-test="past-state"]').textContent())
      .toContain('运行 / 运行中');
    await page.locator('[data-test="time-slider"] .n-slider-rail').click({ position: { x: 1, y: 2 } });
    await expect
      .poll(() => page.locator('[data-test="past-state"]').textContent())
      .not.toContain('运行 / 运行中');
    expect(await page.locator('[data-test="past-state"]').textContent()).toContain('运行 / ');
    await shot(page, 'instance-history.zh-CN');
  });

  it('plays back the terminal session, showing what it printed', async () => {
    await page.locator('.n-tabs-tab', { hasText: '录像' }).click();
    const play = page.locator('[data-test="play"]');
    await expect.poll(() => play.count()).toBeGreaterThan(0);
    expect(await page.locator('[data-test="recordings"]').textContent()).toContain('网页终端');
    await play.first().click();
    // The player (loaded on demand) draws its terminal as text: the session's own output comes back.
    const player = page.locator('[data-test="player"]');
    await expect.poll(() => player.textContent(), { timeout: 30_000 }).toContain('你好');
    await expect.poll(() => player.textContent(), { timeout: 30_000 }).toMatch(/\d+ \d+/);
    await shot(page, 'instance-recordings.zh-CN');
  });

  it('keeps SSH keys and shows usage in the account page', async () => {
    await page.goto(`${tianqi.url}/account`);
    const key =
      'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGn2u3XQ3pU0eV1mR6w3tJcYQ8wKzX7b2sQ2l0lQyB9a alice@laptop';
    await page.locator('[data-test="new-key"] textarea').fill(key);
    await page.locator('[data-test="add-key"]').click();
    await expect.poll(() => page.locator('[data-test="ssh-key"]').count()).toBe(1);
    await expect.poll(() => page.locator('[data-test="ssh-key"]').textContent()).toContain('SHA256:');
    await expect.poll(() => page.locator('[data-test="cost"]').textContent()).toMatch(/¥\d+\.\d\d/);
    await shot(page, 'account.zh-CN');
    await page.goto(`${tianqi.url}/no-such-page`);
    await page.locator('[data-test="not-found"]').waitFor();
    await shot(page, 'not-found.zh-CN');
  });

  it('switches to English and dark, and it sticks', async () => {
    await page.goto(`${tianqi.url}/instances`);
    await page.locator('[data-test="language"]').click();
    await page.getByText('English', { exact: true }).click();
    await page.locator('[data-test="theme"]').click();
    await page.getByText('Dark', { exact: true }).click();
    await expect.poll(() => page.locator('th').first().textContent()).toBe('Name');
    await page.reload();
    await expect.poll(() => page.locator('th').first().textContent()).toBe('Name');
    expect(await page.evaluate(() => document.documentElement.classList.contains('dark'))).toBe(true);
    await expect.poll(() => page.locator('.n-data-table-loading-wrapper').count()).toBe(0);
    await shot(page, 'instance-list.en.dark');
  });

  it('shows every page in English and dark too (screenshots to look at)', async () => {
    const { items } = await tianqi.admin.instances.list.query({ name: 'web-cpu' });
    const id = items[0]!.instanceId;
    await fillWizard(page, { image: 'bash', spec: 'gpu-1', name: 'web-en' });
    await expect.poll(() => page.locator('[data-test="price"]').textContent()).toContain('2.50');
    await shot(page, 'wizard-confirm.en.dark');
    // Each pane once it shows what it is for.
    const ready: Record<string, string> = {
      overview: '[data-test="overview"]',
      monitoring: '[data-test="cpu-bar"]',
      logs: '[data-test="log-line"]',
      terminal: '[data-test="terminal"] .xterm-rows',
      history: '[data-test="history-entry"]',
      recordings: '[data-test="play"]',
    };
    for (const [tab, selector] of Object.entries(ready)) {
      await page.goto(`${tianqi.url}/instances/${id}/${tab}`);
      await page.locator(selector).first().waitFor({ timeout: 30_000 });
      if (tab === 'terminal')
        await expect.poll(() => page.locator('[data-test="terminal-status"]').textContent()).toBe('');
      await shot(page, `instance-${tab}.en.dark`);
    }
    expect(await page.locator('.n-tabs').textContent()).toContain('Recordings');
    await page.goto(`${tianqi.url}/account`);
    await page.locator('[data-test="usage"]').waitFor();
    await shot(page, 'account.en.dark');
    await page.goto(`${tianqi.url}/no-such-page`);
    await page.locator('[data-test="not-found"]').waitFor();
    await shot(page, 'not-found.en.dark');
    await page.goto(`${tianqi.url}/no-access`);
    await page.locator('[data-test="no-access"]').waitFor();
    await shot(page, 'no-access.en.dark');
    await page.goto(`${tianqi.url}/instances`);
  });

  it('shows another user nothing of it: not in the list, "not found" when opened', async () => {
    const url = page.url();
    const { items } = await tianqi.admin.instances.list.query({ name: 'web-cpu' });
    const other = await browser.newContext({ viewport: { width: 390, height: 800 }, locale: 'en-US' });
    const bob = await other.newPage();
    await bob.goto(`${tianqi.url}/instances/${items[0]!.instanceId}`);
    await bob.waitForURL(/\/sign-in/);
    await shot(bob, 'sign-in.en.phone');
    await signIn(bob, 'bob');
    await expect
      .poll(() => bob.locator('[data-test="not-found"]').textContent())
      .toContain('No such instance');
    await bob.goto(`${tianqi.url}/instances`);
    await expect
      .poll(() => bob.locator('[data-test="instances"]').textContent())
      .toContain('No instances yet');
    await shot(bob, 'instance-list.en.phone');
    await other.close();
    expect(url).toContain('/instances');
  });

  it('lets an admin see everyone’s instances and filter them by owner, picked by username', async () => {
    const other = await browser.newContext({ viewport: { width: 1280, height: 720 }, locale: 'zh-CN' });
    const admin = await other.newPage();
    await admin.goto(`${tianqi.url}/instances`);
    await signIn(admin, 'admin');
    const names = async () => (await admin.locator('[data-test="instance-name"]').allTextContents()).sort();
    await expect.poll(names).toEqual(['web-cpu', 'web-gpu']);
    // Typed, the select narrows to the names that match; picked, the list is that user's.
    const pick = async (typed: string, username: string) => {
      // The menu is open before typing, and closed again before the next pick.
      const menu = admin.locator('.n-base-select-menu');
      await admin.locator('[data-test="filter-owner"]').click();
      await menu.waitFor();
      await admin.keyboard.type(typed);
      const options = admin.locator('.n-base-select-option');
      await expect.poll(() => options.allTextContents()).toEqual([username]);
      await options.first().click();
      await menu.waitFor({ state: 'hidden' });
    };
    await pick('bo', 'bob');
    await expect.poll(() => admin.locator('[data-test="instances"]').textContent()).toContain('还没有实例');
    await pick('ALI', 'alice');
    await expect.poll(names).toEqual(['web-cpu', 'web-gpu']);
    expect(await admin.locator('td', { hasText: /^alice$/ }).count()).toBe(2);
    await shot(admin, 'instance-list.admin.zh-CN');
    await other.close();
  });

  it('signing out in one tab signs the other out too', async () => {
    const second = await context.newPage();
    await second.goto(`${tianqi.url}/instances`);
    await expect.poll(() => second.locator('[data-test="me"]').textContent()).toContain('alice');
    await page.locator('[data-test="sign-out"]').click();
    await page.waitForURL(/\/sign-in/);
    await second.waitForURL(/\/sign-in/);
    await expect
      .poll(() => second.locator('.n-alert').first().textContent())
      .toContain('You signed out in another tab');
    await second.close();
  });
});
