import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { loadClientId } from '../../src/transport/client-id.ts';

let dir: string;
afterEach(() => removeTempDir(dir));

describe('loadClientId', () => {
  it('makes one id for a new data dir and keeps it', () => {
    dir = makeTempDir('facegate-id-');
    const id = loadClientId(undefined, dir, false);
    expect(id).toMatch(/^facegate-[0-9A-Za-z]{12}$/);
    expect(loadClientId(undefined, dir, false)).toBe(id);
    expect(readFileSync(join(dir, 'mqtt-client-id'), 'utf8')).toBe(`${id}\n`);
  });

  it("keeps an older version's id (facegate-<hostname>) for a data dir it already used, where its session waits", () => {
    dir = makeTempDir('facegate-id-');
    expect(loadClientId(undefined, dir, true)).toBe(`facegate-${hostname()}`);
    expect(loadClientId(undefined, dir, false)).toBe(`facegate-${hostname()}`);
  });

  it('takes MQTT_CLIENT_ID as it is and writes nothing', () => {
    dir = makeTempDir('facegate-id-');
    expect(loadClientId('bridge-1', dir, false)).toBe('bridge-1');
    expect(() => readFileSync(join(dir, 'mqtt-client-id'))).toThrow();
  });
});
