import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

// Data dirs of child processes (a bridge, a Mosquitto) must not outlive the
// process that made them, whatever ends it.

const dirs = new Set<string>();
let watching = false;

/** A fresh directory under the system's temp dir, removed at the latest when this process exits. */
export function makeTempDir(prefix: string): string {
  // Registered on first use, after child-process.ts's own: its children die before their dirs go.
  if (!watching) process.once('exit', removeTempDirs);
  watching = true;
  const dir = mkdtempSync(join(tmpdir(), prefix));
  dirs.add(dir);
  return dir;
}

export function removeTempDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
  dirs.delete(dir);
}

/** Every directory made here and not removed yet. */
export function removeTempDirs(): void {
  for (const dir of dirs) removeTempDir(dir);
}
