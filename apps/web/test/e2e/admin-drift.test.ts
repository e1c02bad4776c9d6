import { describe, expect, it } from 'vitest';
import { shot } from './support/browser.js';
import { dockerStop, runningInstance } from './support/instances.js';
import { ADMIN, gpuCatalog } from './support/platform.js';
import { signIn } from './support/sign-in.js';
import { useBrowserSuite } from './support/suite.js';

// Drift under the `report` policy, in Chinese: a container stopped by hand shows up on the page by
// itself, stays until an admin converges it with the button, and then heals, all without a reload.
const suite = useBrowserSuite(
  'zh-CN',
  async (tianqi) => {
    await gpuCatalog(tianqi.admin);
    await tianqi.user('erin');
  },
  { TIANQI_SYNC_DRIFT_POLICY: 'report' },
);

describe('an admin with drift to report', () => {
  it('sees a stopped container as drift, waits, converges it by the button and sees it heal', async () => {
    const { tianqi, page } = suite;
    const { instanceId, user } = await runningInstance(tianqi, 'erin', 'drifty');
    await page.goto(`${tianqi.url}/admin/drift`);
    await signIn(page, ADMIN.username, ADMIN.password);
    const policy = page.locator('[data-test="drift-policy"]');
    await expect.poll(() => policy.getAttribute('data-policy')).toBe('report');
    expect(await policy.textContent()).toContain('只报告');
    await expect
      .poll(() => page.locator('[data-test="drift-open"]').textContent())
      .toContain('没有未解决的漂移');

    const { containerId } = await user.instances.get.query({ instanceId });
    await dockerStop(containerId!);
    const row = page.locator('[data-test="drift-row"][data-kind="exited"]');
    await expect.poll(() => row.count(), { timeout: 30_000 }).toBe(1);
    expect(await row.locator('[data-test="drift-instance"]').textContent()).toBe('drifty');
    expect(await row.locator('[data-test="drift-node"]').textContent()).toBe('gpu-tls');
    expect(await row.textContent()).toMatch(
      /容器已停止.*运行.*已退出.*should run, but its container Exited \(137\)/,
    );
    await shot(page, 'admin-drift.zh-CN');

    // Reported, not acted on: after more syncs it is still there and the container still stopped.
    await page.locator('[data-test="sync-now"]').click();
    await expect.poll(() => page.locator('.n-message').textContent()).toMatch(/已同步 \d+ 个节点/);
    await new Promise((r) => setTimeout(r, 6_000));
    expect(await row.count()).toBe(1);
    expect((await user.instances.get.query({ instanceId })).observed).toBe('exited');

    await row.locator('[data-test="converge"]').click();
    await expect.poll(() => page.locator('.n-message').textContent()).toContain('已排队 1 个实例');
    await expect.poll(() => row.count(), { timeout: 30_000 }).toBe(0);
    expect((await user.instances.get.query({ instanceId })).observed).toBe('running');
    const past = page.locator('[data-test="drift-history-row"][data-open="false"]');
    await expect.poll(() => past.count()).toBe(1);
    expect(await past.textContent()).toContain('drifty');
    await shot(page, 'admin-drift-healed.zh-CN');
  });

  it('shows the audit log and usage in Chinese too', async () => {
    const { tianqi, page } = suite;
    await page.goto(`${tianqi.url}/admin/audit`);
    await expect.poll(() => page.locator('[data-test="audit-row"]').count()).toBeGreaterThan(5);
    expect(await page.locator('.n-menu').textContent()).toMatch(/状态漂移.*审计日志.*用量与费用/);
    await shot(page, 'admin-audit.zh-CN');
    await page.goto(`${tianqi.url}/admin/usage`);
    await expect.poll(() => page.locator('[data-test="usage-user-row"]').count()).toBe(1);
    await page.locator('[data-test="show-chart"]').click();
    await expect.poll(() => page.locator('[data-test="usage-chart"] canvas').count()).toBe(1);
    await shot(page, 'admin-usage.zh-CN');
  });
});
