import { fileURLToPath } from 'node:url';
import { defineConfig } from 'vitest/config';

/**
 * The vitest settings every package shares: tests in `test/`, generous timeouts (they talk to real
 * PostgreSQL and Docker), and, with `database`, the global setup that starts a private PostgreSQL.
 */
export function packageTestConfig(options: { database: boolean }) {
  return defineConfig({
    test: {
      include: ['test/**/*.test.ts'],
      globalSetup: options.database ? [fileURLToPath(new URL('./global-setup.ts', import.meta.url))] : [],
      testTimeout: 120_000,
      hookTimeout: 60_000,
    },
  });
}
