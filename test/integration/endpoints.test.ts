import { PassThrough } from 'node:stream';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createEndpoints, DEFAULT_ENDPOINT, ENDPOINT_LIMIT, type Endpoints } from '../../src/delivery/endpoints.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { createLogger } from '../../src/lib/log.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import type { Store } from '../../src/store/store.ts';

// The owner of endpoint state (README §Webhooks) on the SQLite store: every
// change is committed, then told to its listeners, which read it back.

let dir: string;
let store: Store;
let endpoints: Endpoints;
/** What a listener read from the store each time it was told of a change: id → enabled, reason. */
let seen: Record<string, string>[];

async function open() {
  store = await openSqliteStore(
    { dataDir: dir, sync: 'normal', maxRecords: 10, forward: 'all', images: 'inline', replyWindowMs: 30_000 },
    { log: createLogger('info', new PassThrough()), onFatal: () => {} },
  );
  endpoints = createEndpoints(store);
  endpoints.onChange(async () => {
    seen.push(Object.fromEntries((await store.endpoints()).map((e) => [e.id, e.enabled ? 'enabled' : `disabled: ${e.disabledReason}`])));
  });
}

beforeEach(async () => {
  dir = makeTempDir('facegate-endpoints-');
  seen = [];
  await open();
});

afterEach(async () => {
  await store.close();
  removeTempDir(dir);
});

const hook = (id: string) => ({ id, url: `http://127.0.0.1:9/${id}`, secret: null, eventTypes: ['face.verified' as const] });

describe('endpoints', () => {
  it('tells its listeners of every change once it is committed: added, disabled (with its reason), enabled, removed', async () => {
    expect(await endpoints.add(hook('ep_a'))).toEqual({ added: true });
    await endpoints.disable('ep_a', 'admin');
    await endpoints.enable('ep_a');
    await endpoints.disable('ep_a', 'gone');
    await endpoints.remove('ep_a');
    expect(seen).toEqual([{ ep_a: 'enabled' }, { ep_a: 'disabled: admin' }, { ep_a: 'enabled' }, { ep_a: 'disabled: gone' }, {}]);
  });

  it('adds none past ENDPOINT_LIMIT, however many are asked for at once, and tells no one', async () => {
    const results = await Promise.all(Array.from({ length: ENDPOINT_LIMIT + 3 }, (_, i) => endpoints.add(hook(`ep_${i}`))));
    expect(results.filter((r) => r.added)).toHaveLength(ENDPOINT_LIMIT);
    expect(results.filter((r) => !r.added)).toEqual(Array.from({ length: 3 }, () => ({ added: false, count: ENDPOINT_LIMIT })));
    expect(seen).toHaveLength(ENDPOINT_LIMIT);
    expect(await store.endpointCount()).toBe(ENDPOINT_LIMIT);
  });

  it('keeps the default endpoint disabled after a 410 while WEBHOOK_URL is the same, and enables it for a new one', async () => {
    await endpoints.configureDefault('http://127.0.0.1:9/hook', undefined);
    await endpoints.disable(DEFAULT_ENDPOINT, 'gone');
    await store.close();
    await open();
    await endpoints.configureDefault('http://127.0.0.1:9/hook', 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw');
    expect(await endpoints.get(DEFAULT_ENDPOINT)).toMatchObject({ enabled: false, disabledReason: 'gone', secret: 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw' });
    await endpoints.configureDefault('http://127.0.0.1:9/other', undefined);
    expect(await endpoints.get(DEFAULT_ENDPOINT)).toMatchObject({ enabled: true, disabledReason: null, url: 'http://127.0.0.1:9/other' });
  });

  it('disables the default endpoint without WEBHOOK_URL (config), and enables it again when WEBHOOK_URL comes back', async () => {
    await endpoints.configureDefault('http://127.0.0.1:9/hook', undefined);
    await endpoints.configureDefault(undefined, undefined);
    expect(await endpoints.get(DEFAULT_ENDPOINT)).toMatchObject({ enabled: false, disabledReason: 'config' });
    await endpoints.configureDefault('http://127.0.0.1:9/hook', undefined);
    expect(await endpoints.get(DEFAULT_ENDPOINT)).toMatchObject({ enabled: true, disabledReason: null });
    expect(seen.map((s) => s[DEFAULT_ENDPOINT])).toEqual(['enabled', 'disabled: config', 'enabled']);
  });
});
