import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { connectionBudget, HTTP_CONNECTIONS, openFileLimit, RESERVED_FILES } from '../../src/transport/connection-budget.ts';

describe('openFileLimit', () => {
  const dir = makeTempDir('facegate-limits-');
  afterAll(() => removeTempDir(dir));
  const limits = (soft: string, hard: string) => {
    const file = join(dir, `limits-${soft}`);
    writeFileSync(
      file,
      `Limit                     Soft Limit           Hard Limit           Units     \nMax processes             63461                63461                processes \nMax open files            ${soft.padEnd(20)} ${hard.padEnd(20)} files     \n`,
    );
    return file;
  };

  it('reads the soft limit', () => {
    expect(openFileLimit(limits('1024', '524288'))).toBe(1024);
  });

  it('is undefined when unlimited or unreadable: no file-limit bound then', () => {
    expect(openFileLimit(limits('unlimited', 'unlimited'))).toBeUndefined();
    expect(openFileLimit(join(dir, 'missing'))).toBeUndefined();
  });

  it("reads this process's own", () => {
    expect(openFileLimit()).toBeGreaterThan(0);
  });
});

describe('connectionBudget', () => {
  it('keeps MAX_CONNECTIONS and the HTTP bound when the file limit leaves room for both', () => {
    expect(connectionBudget(11_000, 65_536, true)).toEqual({ broker: 11_000, http: HTTP_CONNECTIONS });
    expect(connectionBudget(11_000, undefined, true)).toEqual({ broker: 11_000, http: HTTP_CONNECTIONS });
    expect(connectionBudget(11_000, 11_000 + HTTP_CONNECTIONS + RESERVED_FILES, true)).toEqual({ broker: 11_000, http: HTTP_CONNECTIONS });
  });

  it('splits a smaller file limit, after the reserve: a quarter to HTTP, the rest to the broker, and says so', () => {
    const budget = connectionBudget(11_000, 2048, true);
    expect(budget).toEqual({ broker: 1344, http: 448, fileLimit: 2048 });
    expect(budget.broker + budget.http + RESERVED_FILES).toBeLessThanOrEqual(2048);
    expect(connectionBudget(11_000, 512, true)).toEqual({ broker: 192, http: 64, fileLimit: 512 });
  });

  it('gives HTTP what is left against an external broker', () => {
    expect(connectionBudget(11_000, 512, false)).toEqual({ broker: 0, http: 256, fileLimit: 512 });
    expect(connectionBudget(11_000, 65_536, false)).toEqual({ broker: 0, http: HTTP_CONNECTIONS });
  });

  it('keeps one of each under a limit below the reserve', () => {
    expect(connectionBudget(11_000, 100, true)).toEqual({ broker: 1, http: 1, fileLimit: 100 });
  });

  it('keeps a MAX_CONNECTIONS below what the file limit allows', () => {
    expect(connectionBudget(50, 512, true)).toEqual({ broker: 50, http: 64, fileLimit: 512 });
  });
});
