import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { importCycles, readImports } from './support/import-graph.js';

const repo = fileURLToPath(new URL('../..', import.meta.url));

/** Each workspace and the Tianqi packages its code may import: every layer stands on those below. */
const LAYERS: Record<string, readonly string[]> = {
  'packages/domain/src': [],
  'packages/events/src': ['@tianqi/domain'],
  'packages/projections/src': ['@tianqi/domain', '@tianqi/events'],
  'apps/api/src': ['@tianqi/domain', '@tianqi/events', '@tianqi/projections'],
  // The clients know the server only by its type-only face.
  'apps/cli/src': ['@tianqi/domain', '@tianqi/api/client'],
  'apps/web/src': ['@tianqi/domain', '@tianqi/api/client'],
  'infra/src': [],
};

const files = readImports(repo, Object.keys(LAYERS));

describe('the import graph', () => {
  it('has no cycles', () => {
    expect(files.length).toBeGreaterThan(100);
    expect(importCycles(files)).toEqual([]);
  });

  it('lets each workspace import only the Tianqi packages below it', () => {
    const wrong = files.flatMap((f) => {
      const root = Object.keys(LAYERS).find((r) => f.path.startsWith(`${r}/`))!;
      return f.packages
        .filter((p) => p.startsWith('@tianqi/') && !LAYERS[root]!.includes(p))
        .map((p) => `${f.path} imports ${p}`);
    });
    expect(wrong).toEqual([]);
  });

  it('keeps the three front doors (tRPC, web terminal, SSH) standing side by side on the access folder', () => {
    const doors = ['apps/api/src/api/', 'apps/api/src/web-terminal/', 'apps/api/src/jumpbox/'];
    const doorOf = (path: string) => doors.find((d) => path.startsWith(d));
    const crossings = files.flatMap((f) => {
      const from = doorOf(f.path);
      const shared = f.path.startsWith('apps/api/src/access/');
      if (!from && !shared) return [];
      return f.imports
        .filter((target) => {
          const to = doorOf(target);
          return to !== undefined && to !== from;
        })
        .map((target) => `${f.path} imports ${target}`);
    });
    expect(crossings).toEqual([]);
    // They do share it: each door uses the access folder.
    for (const door of doors) {
      expect(
        files.some(
          (f) => f.path.startsWith(door) && f.imports.some((t) => t.startsWith('apps/api/src/access/')),
        ),
      ).toBe(true);
    }
  });
});
