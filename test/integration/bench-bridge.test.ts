import { expect, it } from 'vitest';
import { startBridge } from '../../src/bench/children/bridge.ts';

// A bench bridge that dies before it is ready must say how and what it
// printed: its output is read to the end only after the exit, and a message
// read at the exit alone was empty.
it("the bench's bridge that exits at start is reported with its exit code and its last line", async () => {
  const started = startBridge({ sync: 'full', clientId: 'facegate-bench-test', env: { IMAGES: 'none' } });
  await expect(started).rejects.toThrow(/the bridge exited with code 2 before it was ready:\n.*invalid IMAGES="none"/);
});
