import { describe, expect, it } from 'vitest';
import { budget, pace } from '../../src/commands/pacing.ts';

describe('pace', () => {
  it('lets every waiter through in the order they came, past the first burst', async () => {
    const steps = pace(100);
    const order: number[] = [];
    await Promise.all(Array.from({ length: 250 }, (_, i) => steps.take().then(() => order.push(i))));
    expect(order).toEqual(Array.from({ length: 250 }, (_, i) => i));
  });

  it('serves those who come while others wait after them', async () => {
    const steps = pace(50);
    const order: string[] = [];
    const first = Array.from({ length: 60 }, (_, i) => steps.take().then(() => order.push(`a${i}`)));
    const late = steps.take().then(() => order.push('late'));
    await Promise.all([...first, late]);
    expect(order.at(-1)).toBe('late');
    expect(order).toHaveLength(61);
  });
});

describe('budget', () => {
  it('admits in order what fits beside what is held', async () => {
    const bytes = budget(10);
    const order: string[] = [];
    await bytes.acquire(6);
    const second = bytes.acquire(6).then(() => order.push('second'));
    const third = bytes.acquire(1).then(() => order.push('third'));
    await Promise.resolve();
    expect(order).toEqual([]);
    bytes.release(6);
    await Promise.all([second, third]);
    expect(order).toEqual(['second', 'third']);
  });

  it('admits a body larger than the whole once nothing else is held', async () => {
    const bytes = budget(10);
    await bytes.acquire(3);
    let admitted = false;
    const large = bytes.acquire(25).then(() => (admitted = true));
    await Promise.resolve();
    expect(admitted).toBe(false);
    bytes.release(3);
    await large;
    bytes.release(25);
    await bytes.acquire(10);
  });
});
