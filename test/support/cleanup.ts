import { afterEach } from 'vitest';

/**
 * Steps undone after each test in reverse order, failed or not, so what was
 * set up last goes first (a fault before the bridge it hurts, the bridge
 * before its broker or filesystem). Returns the function that adds a step.
 */
export function cleanupAfterEach(): (step: () => unknown) => void {
  let steps: (() => unknown)[] = [];
  afterEach(async () => {
    const undo = steps.reverse();
    steps = [];
    const errors: unknown[] = [];
    for (const step of undo) {
      try {
        await step();
      } catch (err) {
        errors.push(err);
      }
    }
    if (errors.length > 0) throw errors[0];
  });
  return (step) => steps.push(step);
}
