import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

// The tree as README §Architecture describes it: every source file in its
// table, nothing in the table that is gone, and imports in one direction.

const root = resolve(import.meta.dirname, '../..');

function sources(dir: string): string[] {
  return readdirSync(join(root, dir), { withFileTypes: true }).flatMap((entry) => {
    const path = `${dir}/${entry.name}`;
    if (entry.isDirectory()) return path === 'src/ui' ? [] : sources(path);
    return /\.(ts|mjs)$/.test(entry.name) ? [path] : [];
  });
}

/** The file table of README §Architecture: a row names a path, or more paths relative to the folder of the first. */
function documented(): Set<string> {
  const readme = readFileSync(join(root, 'README.md'), 'utf8');
  const section = readme.slice(readme.indexOf('## Architecture\n'), readme.indexOf('\n## ', readme.indexOf('## Architecture\n') + 1));
  const paths = new Set<string>();
  for (const line of section.split('\n').filter((l) => l.startsWith('| `'))) {
    const cell = line.split(' | ')[0];
    const names = [...cell.matchAll(/`([^`]+)`/g)].map((m) => m[1]);
    const first = names[0];
    const base = first.slice(0, first.lastIndexOf('/', first.lastIndexOf('/') - 1) + 1);
    for (const name of names) paths.add(name.startsWith('src/') ? name : `${base}${name.includes('/') ? '' : `${dirname(first).slice(base.length)}/`}${name}`);
  }
  return paths;
}

/** Relative imports of each source file (type-only ones too: a type cycle is a cycle). */
function importGraph(files: string[]): Map<string, string[]> {
  const graph = new Map<string, string[]>();
  for (const file of files) {
    const text = readFileSync(join(root, file), 'utf8');
    const targets = [...text.matchAll(/^(?:import|export)[^'";]*?from '(\.{1,2}\/[^']+)'/gm)].map((m) => relative(root, resolve(root, dirname(file), m[1])));
    graph.set(file, targets);
  }
  return graph;
}

describe('the layout', () => {
  const files = sources('src');

  it('has every source file in the README table, and no row for a file that is gone', () => {
    const table = documented();
    expect(files.filter((file) => !table.has(file))).toEqual([]);
    expect([...table].filter((path) => !files.includes(path))).toEqual([]);
  });

  it('has no import cycle between modules', () => {
    const graph = importGraph(files);
    const cycles: string[] = [];
    const state = new Map<string, 'open' | 'done'>();
    const visit = (file: string, path: string[]) => {
      if (state.get(file) === 'done') return;
      if (state.get(file) === 'open') {
        cycles.push([...path.slice(path.indexOf(file)), file].join(' → '));
        return;
      }
      state.set(file, 'open');
      for (const next of graph.get(file) ?? []) visit(next, [...path, file]);
      state.set(file, 'done');
    };
    for (const file of files) visit(file, []);
    expect(cycles).toEqual([]);
  });

  /** The files of src/ and test/ but `owners` whose text matches `pattern`: what one owner's concept must not find elsewhere. */
  const elsewhere = (pattern: RegExp, ...owners: string[]) =>
    [...files, ...sources('test')].filter((file) => !owners.includes(file) && pattern.test(readFileSync(join(root, file), 'utf8')));

  it("loads drizzle-orm's code only through src/store/drizzle.ts: types may be imported, values not", () => {
    expect(elsewhere(/^import (?!type )[^;]*?from 'drizzle-orm[^']*'/m, 'src/store/drizzle.ts')).toEqual([]);
  });

  it('makes temp dirs only through src/kit/temp-dir.ts, which removes them however its process ends', () => {
    // This file names the call in its pattern.
    expect(elsewhere(/\bmkdtemp(Sync)?\(/, 'src/kit/temp-dir.ts', 'test/unit/layout.test.ts')).toEqual([]);
  });
});
