import { type SpawnSyncReturns, spawnSync } from 'node:child_process';

/**
 * Runs `script` as an ES module, from source (tsx), in a Node process of its
 * own started with `nodeFlags`: for what must not share the test's process
 * (V8's flags, its heap, a thread's loop). Its output as text.
 */
export function runModuleScript(script: string, nodeFlags: string[] = [], timeoutMs?: number): SpawnSyncReturns<string> {
  return spawnSync(process.execPath, ['--import', 'tsx', ...nodeFlags, '--input-type=module', '-e', script], { encoding: 'utf8', timeout: timeoutMs });
}
