import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { cleanupAfterEach } from '../support/cleanup.ts';

// README §Quick start: `npm start` builds only when a source changed since
// the last build. The check runs in a tree of its own here, whose build
// script only says it ran and leaves the stamp a real build leaves.

const SCRIPT = new URL('../../src/build-if-changed.mjs', import.meta.url).pathname;
const cleanup = cleanupAfterEach();

/** A project with the check in src/, a source, and a build that succeeds (or fails). */
function project({ buildFails = false } = {}) {
  const root = makeTempDir('facegate-build-');
  cleanup(() => removeTempDir(root));
  mkdirSync(join(root, 'src', 'ui'), { recursive: true });
  copyFileSync(SCRIPT, join(root, 'src', 'build-if-changed.mjs'));
  writeFileSync(join(root, 'src', 'cli.ts'), 'export {};\n');
  writeFileSync(join(root, 'src', 'ui', 'app.js'), '\n');
  writeFileSync(join(root, 'tsconfig.json'), '{}\n');
  const build = buildFails ? 'echo BUILD FAILED && exit 3' : 'mkdir -p dist && touch dist/.built && echo BUILT';
  writeFileSync(join(root, 'package.json'), JSON.stringify({ name: 'scratch', version: '1.0.0', private: true, scripts: { build } }));
  // Everything was written a minute ago, before any build.
  const past = new Date(Date.now() - 60_000);
  for (const path of ['src/cli.ts', 'src/ui/app.js', 'src/ui', 'src/build-if-changed.mjs', 'src', 'tsconfig.json', 'package.json'])
    utimesSync(join(root, path), past, past);
  return {
    root,
    /** Runs the check as `npm start` does: its exit code, and whether the build ran. */
    start(...args: string[]) {
      const run = spawnSync(process.execPath, ['src/build-if-changed.mjs', ...args], {
        cwd: root,
        encoding: 'utf8',
        env: { PATH: process.env.PATH, HOME: process.env.HOME },
      });
      return { status: run.status, built: run.stdout.includes('BUILT'), said: run.stderr.trim() };
    },
    /** Changed now: after the last build, which ran in an earlier start. */
    touch(path: string) {
      const now = new Date();
      utimesSync(join(root, path), now, now);
    },
  };
}

describe('build-if-changed', () => {
  it('builds when there is no build, then not again until a source changes', () => {
    const p = project();
    expect(p.start()).toMatchObject({ status: 0, built: true, said: 'facegate: no complete build in dist/: npm run build' });
    expect(p.start()).toEqual({ status: 0, built: false, said: '' });
    expect(p.start()).toEqual({ status: 0, built: false, said: '' });

    p.touch('src/ui/app.js');
    expect(p.start()).toMatchObject({ status: 0, built: true, said: 'facegate: src/ui/app.js changed since the last build: npm run build' });
    expect(p.start()).toMatchObject({ status: 0, built: false });
  });

  it('builds when a source is removed, or the TypeScript settings or the build script change', () => {
    const p = project();
    p.start();
    rmSync(join(p.root, 'src', 'cli.ts'));
    expect(p.start()).toMatchObject({ status: 0, built: true, said: 'facegate: src changed since the last build: npm run build' });
    for (const file of ['tsconfig.json', 'package.json']) {
      p.touch(file);
      expect(p.start()).toMatchObject({ status: 0, built: true, said: `facegate: ${file} changed since the last build: npm run build` });
    }
  });

  it('stops the start when the build fails, and builds again at the next', () => {
    const p = project({ buildFails: true });
    expect(p.start()).toMatchObject({ status: 3, built: false });
    expect(existsSync(join(p.root, 'dist', '.built'))).toBe(false);
    expect(p.start().status).toBe(3);
  });

  it('with --check only says whether a build is needed', () => {
    const p = project();
    expect(p.start('--check')).toEqual({ status: 1, built: false, said: 'facegate: no complete build in dist/: run npm run build' });
    p.start();
    const builtAt = statSync(join(p.root, 'dist', '.built')).mtimeMs;
    expect(p.start('--check')).toEqual({ status: 0, built: false, said: '' });
    p.touch('src/cli.ts');
    expect(p.start('--check')).toEqual({ status: 1, built: false, said: 'facegate: src/cli.ts changed since the last build: run npm run build' });
    expect(statSync(join(p.root, 'dist', '.built')).mtimeMs).toBe(builtAt);
  });
});
