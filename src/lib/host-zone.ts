import { execFileSync } from 'node:child_process';

/**
 * The process's time zone as ICU names it (`TZ`, else the host's), asked of
 * a Node.js process of its own, once. ICU's first formatter costs ~5 MB of
 * resident memory for the life of the process that makes it (its data, in
 * the Node binary, read in, and its caches), where nothing else of the
 * bridge uses ICU: a tenth of an idle bridge (README §Performance, Memory).
 * The child has the same Node and the same environment, so the same answer.
 * Asked here when the child cannot run.
 */
export function hostZoneName(): string {
  try {
    const name = execFileSync(process.execPath, ['--eval', 'process.stdout.write(Intl.DateTimeFormat().resolvedOptions().timeZone)'], {
      encoding: 'utf8',
      stdio: ['ignore', 'pipe', 'ignore'],
      timeout: 10_000,
    });
    if (name) return name;
  } catch {
    // Below.
  }
  return Intl.DateTimeFormat().resolvedOptions().timeZone;
}
