// `npm start` runs this before the bridge: it builds dist/ (`npm run build`)
// only when a source changed since the last build, so that a restart of an
// unchanged tree runs `node dist/cli.js` at once (README §Quick start). Plain
// JavaScript, as it runs before there is anything compiled.
//
// `--check`: build nothing; exit 1, saying why, when a build is needed.
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('..', import.meta.url));

/**
 * `npm run build` creates it (as dist/.building) before it compiles and
 * renames it once the whole build succeeded: its time is that of the sources
 * the build read, and a failed build leaves none.
 */
const STAMP = 'dist/.built';

/** What the build reads: the sources and the console's files (src/), the TypeScript settings, the build script. */
const INPUTS = ['src', 'tsconfig.json', 'package.json'];

/**
 * The first file under `path` changed after `time`, if any. A folder's own
 * time counts too: it changes when a file in it is added, removed or renamed.
 */
function changedAfter(path, time) {
  const stat = statSync(path);
  if (stat.mtimeMs > time) return path;
  if (!stat.isDirectory()) return undefined;
  for (const name of readdirSync(path)) {
    const changed = changedAfter(join(path, name), time);
    if (changed !== undefined) return changed;
  }
  return undefined;
}

/** Why a build is needed, or undefined when dist/ is current. */
function staleBecause() {
  let builtAt;
  try {
    builtAt = statSync(join(root, STAMP)).mtimeMs;
  } catch {
    return 'no complete build in dist/';
  }
  for (const input of INPUTS) {
    const changed = changedAfter(join(root, input), builtAt);
    if (changed !== undefined) return `${relative(root, changed)} changed since the last build`;
  }
  return undefined;
}

const reason = staleBecause();
if (reason !== undefined && process.argv.includes('--check')) {
  process.stderr.write(`facegate: ${reason}: run npm run build\n`);
  process.exitCode = 1;
} else if (reason !== undefined) {
  process.stderr.write(`facegate: ${reason}: npm run build\n`);
  const { status } = spawnSync('npm', ['run', 'build'], { cwd: root, stdio: 'inherit' });
  process.exitCode = status ?? 1;
}
