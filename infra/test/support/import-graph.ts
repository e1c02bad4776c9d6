import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import ts from 'typescript';

export interface SourceFile {
  /** Repository-relative path. */
  path: string;
  /** Repository-relative paths of the files it imports (type-only imports too). */
  imports: string[];
  /** The bare specifiers it imports (`@tianqi/domain`, `pg`, `node:fs`). */
  packages: string[];
}

function sourcesUnder(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return e.name === 'node_modules' || e.name === 'dist' ? [] : sourcesUnder(p);
    return /\.(ts|vue)$/.test(e.name) && !e.name.endsWith('.d.ts') ? [p] : [];
  });
}

/** A relative specifier (`./x.js`, `../y`) as the file it names, when that file exists. */
function resolveLocal(from: string, spec: string): string | null {
  const base = resolve(dirname(from), spec);
  const candidates = [base.replace(/\.js$/, '.ts'), base, `${base}.ts`, join(base, 'index.ts')];
  return candidates.find((c) => existsSync(c) && /\.(ts|vue)$/.test(c)) ?? null;
}

/** Every source file under `roots` (repository-relative folders) with what it imports. */
export function readImports(repo: string, roots: readonly string[]): SourceFile[] {
  return roots.flatMap((root) =>
    sourcesUnder(join(repo, root)).map((file) => {
      const text = readFileSync(file, 'utf8');
      const script = file.endsWith('.vue')
        ? (/<script[^>]*>([\s\S]*?)<\/script>/.exec(text)?.[1] ?? '')
        : text;
      const specs = ts.preProcessFile(script, true, true).importedFiles.map((i) => i.fileName);
      return {
        path: relative(repo, file),
        imports: specs.flatMap((s) => {
          if (!s.startsWith('.')) return [];
          const target = resolveLocal(file, s);
          return target ? [relative(repo, target)] : [];
        }),
        packages: specs.filter((s) => !s.startsWith('.')),
      };
    }),
  );
}

/** The import cycles (strongly connected sets of two or more files, or a file importing itself). */
export function importCycles(files: readonly SourceFile[]): string[][] {
  const edges = new Map(files.map((f) => [f.path, f.imports]));
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const cycles: string[][] = [];
  let next = 0;
  const visit = (v: string) => {
    index.set(v, next);
    low.set(v, next);
    next++;
    stack.push(v);
    onStack.add(v);
    for (const w of edges.get(v) ?? []) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const set: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        set.push(w);
      } while (w !== v);
      if (set.length > 1 || edges.get(v)?.includes(v)) cycles.push(set.sort());
    }
  };
  for (const f of files) if (!index.has(f.path)) visit(f.path);
  return cycles;
}
