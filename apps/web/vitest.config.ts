import vue from '@vitejs/plugin-vue';
import { defineConfig } from 'vitest/config';

// Component tests in happy-dom; the browser tests (test/e2e) drive chromium against `tianqi start`.
export default defineConfig({
  plugins: [vue()],
  test: {
    projects: [
      {
        extends: true,
        test: { name: 'unit', include: ['test/unit/**/*.test.ts'], environment: 'happy-dom' },
      },
      {
        extends: true,
        test: {
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          environment: 'node',
          globalSetup: ['../../infra/src/vitest/global-setup.ts'],
          testTimeout: 180_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          // The browser waits for real containers: a poll gives them up to 15 s unless it says more.
          expect: { poll: { timeout: 15_000, interval: 100 } },
        },
      },
    ],
  },
});
