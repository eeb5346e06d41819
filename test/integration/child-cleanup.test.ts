import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { type Child, startChild } from '../../src/kit/child-process.ts';
import { until } from '../../src/kit/wait.ts';

// src/kit/child-process.ts: whatever ends the process that started them, its
// children and temp dirs do not outlive it. An exit runs its listener; a
// signal's default does not, and vitest stops a test file's process with
// SIGTERM while a timed-out hook may still have children running.

const OWNER = fileURLToPath(new URL('../support/child-owner.ts', import.meta.url));

interface Owned {
  owner: Child;
  pid: number;
  dir: string;
}

async function startOwner(mode?: string): Promise<Owned> {
  const owner = startChild(process.execPath, ['--import', 'tsx', OWNER, ...(mode ? [mode] : [])]);
  const line = await owner.waitForLine(/"pid"/, 30_000, 'starting the owner');
  return { owner, ...(JSON.parse(line) as { pid: number; dir: string }) };
}

/** Running, not a zombie waiting to be reaped (/proc/<pid>/stat's state). */
function running(pid: number): boolean {
  try {
    const state = readFileSync(`/proc/${pid}/stat`, 'utf8').replace(/^.*\) /s, '')[0];
    return state !== 'Z' && state !== 'X';
  } catch {
    return false;
  }
}

describe('children of a process ended by a signal', () => {
  it.each(['SIGTERM', 'SIGINT', 'SIGHUP'] as const)('are killed and their temp dirs removed on %s, which still ends the process', async (signal) => {
    const { owner, pid, dir } = await startOwner();
    expect(running(pid)).toBe(true);
    expect(existsSync(dir)).toBe(true);
    expect(await owner.kill(signal)).toBe(signal);
    expect(existsSync(dir)).toBe(false);
    // SIGKILL was sent before the owner died; the child's end is not an event this process can await.
    await until(() => !running(pid));
  });

  it('are left to a signal handler of the process itself', async () => {
    const { owner, pid } = await startOwner('answers');
    const answer = owner.nextLine(/"answered"/, 30_000);
    expect(await owner.kill('SIGTERM')).toBe(0);
    expect(JSON.parse((await answer) ?? '{}')).toEqual({ answered: true, childRunning: true });
    // It stopped its child itself; the kit only stepped aside.
    await until(() => !running(pid));
  });
});
