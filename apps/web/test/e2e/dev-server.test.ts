import { type ChildProcess, spawn } from 'node:child_process';
import { request } from 'node:http';
import { fileURLToPath } from 'node:url';
import { freePort } from '@tianqi/infra';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, shot } from './support/browser.js';
import { ADMIN, type RunningTianqi, startTianqi } from './support/platform.js';

// `npm run dev` as a developer runs it: Vite serving the sources, the API proxied to a running server.
const WEB = fileURLToPath(new URL('../..', import.meta.url));
let tianqi: RunningTianqi;
let vite: ChildProcess;
let devUrl: string;
let browser: Browser;
let output = '';

beforeAll(async () => {
  tianqi = await startTianqi();
  const port = await freePort();
  devUrl = `http://127.0.0.1:${port}`;
  // Its own process group, so the end takes npm, Vite and Vite's children with it.
  vite = spawn('npm', ['run', 'dev', '--', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], {
    cwd: WEB,
    env: { ...process.env, TIANQI_API_URL: tianqi.url },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  vite.stdout?.on('data', (d) => (output += d));
  vite.stderr?.on('data', (d) => (output += d));
  for (const deadline = Date.now() + 20_000; ; ) {
    if (vite.exitCode !== null) throw new Error(`npm run dev ended:\n${output}`);
    const up = await fetch(devUrl).catch(() => null);
    if (up?.ok) break;
    if (Date.now() > deadline) throw new Error(`the dev server did not answer:\n${output}`);
    await new Promise((r) => setTimeout(r, 200));
  }
  browser = await launch();
});

afterAll(async () => {
  await browser?.close();
  if (vite?.pid && vite.exitCode === null) {
    const ended = new Promise((r) => vite.once('exit', r));
    process.kill(-vite.pid, 'SIGTERM');
    await ended;
  }
  await tianqi?.stop();
});

/** A WebSocket upgrade through the dev server, answered before the upgrade: its status and body. */
function upgrade(path: string, cookie: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(`${devUrl}${path}`, {
      headers: {
        connection: 'Upgrade',
        upgrade: 'websocket',
        'sec-websocket-version': '13',
        'sec-websocket-key': Buffer.from('tianqi-dev-test!').toString('base64'),
        origin: devUrl,
        cookie,
      },
    });
    req.on('response', (res) => {
      let body = '';
      res.on('data', (d) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 0, body: '' });
    });
    req.on('error', reject);
    req.setTimeout(10_000, () => req.destroy(new Error('no answer to the upgrade')));
    req.end();
  });
}

describe('the Vite dev server in front of a running API', () => {
  it('serves the app from source, signs in through its proxy, and passes terminal sockets on', async () => {
    const context = await browser.newContext({ viewport: { width: 1280, height: 720 }, locale: 'en-US' });
    const page = await context.newPage();
    page.on('pageerror', (err) => console.error(`page error: ${err.message}`));
    await page.goto(`${devUrl}/instances`);
    await page.waitForURL((u) => u.pathname === '/sign-in');
    await page.getByLabel('Username').fill(ADMIN.username);
    await page.getByLabel('Password').fill(ADMIN.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    await page.waitForURL((u) => u.pathname === '/instances');
    await expect.poll(() => page.locator('[data-test="me"]').textContent()).toContain('admin');
    await expect
      .poll(() => page.locator('[data-test="instances"]').textContent())
      .toContain('No instances yet');
    // The session cookie came through the proxy; with it, the terminal's upgrade reaches the API,
    // which answers for the instance (none such), not Vite.
    const cookie = (await context.cookies(devUrl)).map((c) => `${c.name}=${c.value}`).join('; ');
    expect(cookie).not.toBe('');
    const answer = await upgrade('/api/instances/nosuchinstance/terminal?cols=80&rows=24', cookie);
    expect(answer.status).toBe(404);
    expect(answer.body).toContain('not_found');
    await shot(page, 'dev-server.en');
    await context.close();
  });
});
