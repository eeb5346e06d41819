import { PassThrough } from 'node:stream';
import postgresClient from 'pg';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { type Postgres, startPostgres } from '../../src/kit/postgres.ts';
import { heartU, reply, verifiedRecord, verifiedRecordU } from '../../src/kit/records.ts';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { createLogger } from '../../src/lib/log.ts';
import { openPostgresStore } from '../../src/store/postgres/postgres-store.ts';
import { openSqliteStore } from '../../src/store/sqlite/sqlite-store.ts';
import { type Endpoint, type Job, type Store, Unprocessable } from '../../src/store/store.ts';

// The Store interface (src/store/store.ts) driven directly, jobs written and
// reads read, on both engines alike: what the README promises of the store
// holds with SQLite and with PostgreSQL (DATABASE_URL).

const POLICY = { maxRecords: 10, forward: 'all', images: 'inline', replyWindowMs: 30_000, replyField: 'tag', replica: '101' } as const;
const log = createLogger('fatal', new PassThrough());
const T = 1_800_000_000_000;
const up = (sn: string) => `fungxi_${sn}_upLink`;
const message = (sn: string, body: unknown, receivedAt = T) =>
  ({ kind: 'uplink', sn, topic: up(sn), payload: Buffer.from(JSON.stringify(body)), receivedAt }) satisfies Job;
/** A command accepted for one terminal, queued, as the accepting job writes it. */
const accept = (store: Store, id: string, { sn = 'SN3', cmd = 'rebootD', expiresAt = null }: { sn?: string; cmd?: string; expiresAt?: number | null } = {}) =>
  store.write({ kind: 'commands', at: T, cmd, body: '{}', expiresAt, batch: null, actor: null, rows: [{ id, sn, status: 'queued', error: null }] });
const ENDPOINT: Omit<Endpoint, 'createdAt'> = {
  id: 'ep_a',
  url: 'http://127.0.0.1:9/hook',
  secret: 'whsec_x',
  eventTypes: ['face.verified', 'device.online', 'delivery.dead', 'command.replied'],
  enabled: true,
  disabledReason: null,
  format: 'standard',
  lang: 'zh-CN',
};

let pg: Postgres | undefined;
let databases = 0;
beforeAll(async () => {
  pg = await startPostgres({ fsync: 'off' });
});
afterAll(async () => {
  await pg?.dispose();
});

/** Each engine's store, and `reopen`: the store of the next process on the same data, accepting commands as `replica`. */
const ENGINES = [
  {
    name: 'SQLite',
    async open() {
      const dir = makeTempDir('facegate-contract-');
      const open = (replica: string) => openSqliteStore({ dataDir: dir, sync: 'normal', ...POLICY, replica }, { log, onFatal: () => {} });
      return { store: await open(POLICY.replica), reopen: open, dispose: () => removeTempDir(dir) };
    },
  },
  {
    name: 'PostgreSQL',
    async open() {
      const url = await pg!.database(`contract_${++databases}`);
      const open = (replica: string) => openPostgresStore(url, { ...POLICY, replica }, { log });
      return { store: await open(POLICY.replica), reopen: open, dispose: () => {} };
    },
  },
];

describe.each(ENGINES)('the store on $name', (engine) => {
  let store: Store;
  let reopen: (replica: string) => Promise<Store>;
  let dispose: () => void;
  beforeEach(async () => {
    ({ store, reopen, dispose } = await engine.open());
  });
  afterEach(async () => {
    await store.close();
    dispose();
  });

  /** A terminal's command published at `at`: its id. */
  async function published(sn: string, cmd: string, id: string, at: number, body = '{}') {
    await store.write({
      kind: 'commands',
      at,
      cmd,
      body,
      replyField: 'tag',
      expiresAt: null,
      batch: null,
      actor: 'ops',
      rows: [{ id, sn, status: 'queued', error: null }],
    });
    await store.write({ kind: 'commands-published', published: [{ id, at }] });
  }

  it('stores a message once, whatever retransmits it, with its image apart and its deliveries', async () => {
    await store.write({ kind: 'endpoint', endpoint: ENDPOINT, at: T });
    const body = verifiedRecordU([verifiedRecord({ num: '1001' })]);
    const [first, again] = await Promise.all([store.write(message('SN1', body)), store.write(message('SN1', body))]);
    const third = await store.write(message('SN1', body, T + 5));
    expect(first.events).toHaveLength(1);
    expect([...again.events, ...third.events]).toEqual([]);
    const [event] = first.events;
    expect(event).toMatchObject({ type: 'face.verified', deviceSn: 'SN1', receivedAt: T });
    const record = await store.event(event.seq);
    expect(record).toMatchObject({ id: event.id, hasImage: true });
    expect(JSON.parse(record!.fields)).toMatchObject({ num: '1001' });
    expect(await store.eventById(event.id)).toMatchObject({ seq: event.seq });
    expect(await store.eventKey(event.id)).toEqual({ seq: event.seq, hasImage: true });
    expect(await store.image(event.seq)).toMatch(/^\/9j\//);
    const read = await store.eventWithImage(event.seq, true);
    expect(read?.event).toEqual(record);
    expect(read?.image?.toString()).toBe(await store.image(event.seq));
    expect(await store.eventWithImage(event.seq, false)).toEqual({ event: record, image: undefined });
    expect(await store.listedEvent(event.seq)).toMatchObject({ seq: event.seq, fields: record!.fields, fieldsBytes: Buffer.byteLength(record!.fields) });
    const [delivery] = await store.dueDeliveries('ep_a', T, 10);
    expect(delivery).toMatchObject({ eventSeq: event.seq, attempts: 0 });
    expect(await store.outboxDepth()).toEqual([{ endpointId: 'ep_a', pending: 1 }]);
    expect(await store.eventCounts('SN1', T - 1)).toEqual([{ type: 'face.verified', count: 1 }]);
  });

  it("reads a delivery's event with its image in one: none for a record without one, nothing for an event not stored", async () => {
    const [plain] = (await store.write(message('SN1', verifiedRecordU([verifiedRecord({ liveImageBase64: undefined })])))).events;
    const record = await store.event(plain.seq);
    expect(record).toMatchObject({ hasImage: false });
    expect(await store.eventWithImage(plain.seq, true)).toEqual({ event: record, image: undefined });
    expect(await store.eventWithImage(plain.seq + 1000, true)).toBeUndefined();
    expect(await store.eventWithImage(plain.seq + 1000, false)).toBeUndefined();
  });

  it('stores each record of a batch past 8 MB with its own image (SQLite: the shared region, then a buffer of its own)', async () => {
    const images = ['A', 'B', 'C'].map((fill) => fill.repeat(3_500_000));
    const outcomes = await Promise.all(
      images.map((image, i) => store.write(message('SN1', verifiedRecordU([verifiedRecord({ num: String(i), liveImageBase64: image })])))),
    );
    const seqs = outcomes.map((outcome) => outcome.events[0].seq);
    expect(await Promise.all(seqs.map(async (seq) => (await store.eventWithImage(seq, true))?.image?.toString()))).toEqual(images);
  });

  it('stores the records of a batch each as its own: a retransmission among them once, a malformed one as its reject', async () => {
    await store.write({ kind: 'endpoint', endpoint: ENDPOINT, at: T });
    const once = verifiedRecordU([verifiedRecord({ num: '1' })]);
    const [first, two, again, malformed, last] = await Promise.all(
      [
        message('SN1', once),
        message('SN2', verifiedRecordU([verifiedRecord({ num: '2' }), verifiedRecord({ num: '3' })])),
        message('SN1', once, T + 1),
        { kind: 'uplink', sn: 'SN3', topic: up('SN3'), payload: Buffer.from('{"cmd":\x00 not json'), receivedAt: T } as const,
        message('SN3', verifiedRecordU([verifiedRecord({ num: '4' })])),
      ].map((job) => store.write(job)),
    );
    expect(first.events).toMatchObject([{ type: 'face.verified', deviceSn: 'SN1' }]);
    expect(two.events).toMatchObject([{ deviceSn: 'SN2' }, { deviceSn: 'SN2' }]);
    expect(again.events).toEqual([]);
    expect(malformed).toMatchObject({ events: [], rejected: ['not_json'] });
    expect(last.events).toMatchObject([{ deviceSn: 'SN3' }]);
    const stored = [first, two, last].flatMap((outcome) => outcome.events);
    // In the order written, each with its own fields and image.
    expect(stored.map((event) => event.seq)).toEqual(stored.map((event) => event.seq).sort((a, b) => a - b));
    const nums = await Promise.all(stored.map(async (event) => JSON.parse((await store.event(event.seq))!.fields).num));
    expect(nums).toEqual(['1', '2', '3', '4']);
    for (const event of stored) expect(await store.image(event.seq)).toMatch(/^\/9j\//);
    expect(await store.eventSeqs({ from: 0, below: Number.MAX_SAFE_INTEGER, limit: 10 })).toHaveLength(4);
    expect(await store.outboxDepth()).toEqual([{ endpointId: 'ep_a', pending: 4 }]);

    // Their attempts in one batch too: each delivery its own outcome, two of one delivery both counted, a dead one alerting.
    const due = await store.dueDeliveries('ep_a', T, 10);
    expect(due).toHaveLength(4);
    const attempt = (seq: number, outcome: 'delivered' | 'retry' | 'dead', at: number) =>
      store.write({ kind: 'attempt', seq, at, status: outcome === 'delivered' ? 200 : 500, error: null, outcome, nextAttemptAt: at + 100 });
    const results = await Promise.all([
      attempt(due[0].seq, 'delivered', T + 1),
      attempt(due[1].seq, 'retry', T + 1),
      attempt(due[1].seq, 'retry', T + 2),
      attempt(due[2].seq, 'dead', T + 1),
      attempt(due[3].seq, 'delivered', T + 1),
    ]);
    expect(results.map((result) => result.events.length)).toEqual([0, 0, 0, 1, 0]);
    expect(await store.delivery(due[0].seq)).toMatchObject({ status: 'delivered', attempts: 1, lastStatus: 200, deliveredAt: T + 1 });
    expect(await store.delivery(due[1].seq)).toMatchObject({ status: 'pending', attempts: 2, lastStatus: 500, nextAttemptAt: T + 102 });
    expect(await store.delivery(due[2].seq)).toMatchObject({ status: 'dead', attempts: 1 });
    expect(await store.delivery(due[3].seq)).toMatchObject({ status: 'delivered', attempts: 1 });
    expect(await store.outboxDepth()).toEqual([{ endpointId: 'ep_a', pending: 1 }]);
  });

  it('keeps malformed messages as rejects, and lists them', async () => {
    const outcome = await store.write({ kind: 'uplink', sn: 'SN1', topic: up('SN1'), payload: Buffer.from('{"cmd":\x00 not json'), receivedAt: T });
    expect(outcome.events).toEqual([]);
    expect(outcome.rejected).toEqual(['not_json']);
    await store.write({
      kind: 'reject',
      sn: 'SN2',
      topic: up('SN2'),
      receivedAt: T + 1,
      reject: { reason: 'too_large', detail: 'big', payload: Buffer.from('xx'), size: 9999 },
    });
    const { first, last } = await store.rejectBounds();
    expect(last! - first!).toBe(1);
    expect(await store.rejectSeqs({ from: first!, below: last! + 1, limit: 10 })).toEqual([last, first]);
    expect(await store.rejectSeqs({ device: 'SN2', from: first!, below: last! + 1, limit: 10 })).toEqual([last]);
    expect(await store.reject(first!)).toMatchObject({ deviceSn: 'SN1', reason: 'not_json', topic: up('SN1') });
    expect(await store.reject(last!)).toMatchObject({ reason: 'too_large', size: 9999, sample: 'xx' });
  });

  it('stores the presence flips of one job in their order, an event each', async () => {
    const flips = await store.write({
      kind: 'presence',
      flips: [
        { sn: 'SN2', online: true, at: T, lastSeenAt: T },
        { sn: 'SN1', online: true, at: T + 1, lastSeenAt: T + 1 },
        { sn: 'SN2', online: false, at: T + 2, lastSeenAt: T },
      ],
    });
    expect(flips.events.map((e) => [e.type, e.deviceSn])).toEqual([
      ['device.online', 'SN2'],
      ['device.online', 'SN1'],
      ['device.offline', 'SN2'],
    ]);
    expect(flips.events.map((e) => e.seq)).toEqual([...flips.events.map((e) => e.seq)].sort((a, b) => a - b));
    expect((await store.terminals()).map((t) => [t.sn, t.online]).sort()).toEqual([
      ['SN1', true],
      ['SN2', false],
    ]);
  });

  it('stores presence transitions with their events, last-seen times, registrations, labels and forgetting', async () => {
    const online = await store.write({ kind: 'presence', flips: [{ sn: 'SN1', online: true, at: T, lastSeenAt: T }] });
    expect(online.events).toMatchObject([{ type: 'device.online', deviceSn: 'SN1' }]);
    await store.write({
      kind: 'seen',
      lastSeen: [
        ['SN1', T + 10],
        ['SN9', T + 3],
      ],
    });
    const offline = await store.write({ kind: 'presence', flips: [{ sn: 'SN1', online: false, at: T + 20, lastSeenAt: T + 10 }] });
    expect(offline.events).toMatchObject([{ type: 'device.offline' }]);
    expect(await store.terminal('SN1')).toEqual({ sn: 'SN1', registered: false, firstSeenAt: T, lastSeenAt: T + 10, online: false, label: null });
    await store.write({ kind: 'register', serials: ['SN5'] });
    expect(await store.terminal('SN5')).toMatchObject({ registered: true, online: false, firstSeenAt: null });
    expect(await store.write({ kind: 'terminal-label', sn: 'SN5', label: '3F east' })).toEqual({ changed: true });
    expect(await store.write({ kind: 'terminal-label', sn: 'NOPE', label: 'x' })).toEqual({ changed: false });
    expect((await store.terminalsAfter('SN1', 10)).map((t) => [t.sn, t.label])).toEqual([
      ['SN5', '3F east'],
      ['SN9', null],
    ]);
    expect(await store.write({ kind: 'forget-silent', before: T + 100, limit: 10 })).toEqual({ forgotten: ['SN9', 'SN1'] });
    expect(await store.write({ kind: 'forget', serials: ['SN5', 'NOPE'] })).toEqual({ removed: 1 });
    expect(await store.terminals()).toEqual([]);
    const events = await store.eventSeqs({ from: 0, below: Number.MAX_SAFE_INTEGER, limit: 10 });
    expect(events).toHaveLength(2);
    expect(await store.eventSeqs({ types: ['device.online'], device: 'SN1', from: 0, below: Number.MAX_SAFE_INTEGER, limit: 10 })).toEqual([events[1]]);
    expect(await store.eventSeqsAfter({ after: events[1], upTo: events[0], limit: 10 })).toEqual([events[0]]);
    expect(await store.eventBounds()).toEqual({ first: events[1], last: events[0] });
    expect(await store.firstSeqFrom(T + 1)).toBe(events[0]);
    expect(await store.lastSeqBefore(T + 1)).toBe(events[1]);
  });

  it('queues commands in order, pairs replies by REPLY_FIELD and by name, and sweeps the unanswered and expired', async () => {
    await store.write({ kind: 'endpoint', endpoint: ENDPOINT, at: T });
    await store.write({
      kind: 'commands',
      at: T,
      cmd: 'openDoorD',
      body: '{"cmd":"openDoorD"}',
      replyField: 'tag',
      expiresAt: null,
      batch: 'bat_1',
      actor: 'ops',
      rows: [
        { id: 'cmd_a', sn: 'SN1', status: 'queued', error: null },
        { id: 'cmd_b', sn: 'SN1', status: 'queued', error: null },
        { id: 'cmd_x', sn: 'SN2', status: 'failed', error: 'unknown_device' },
      ],
    });
    const queued = await store.queuedCommands('SN1', 0, T, 10);
    expect(queued.map((c) => c.id)).toEqual(['cmd_a', 'cmd_b']);
    expect(queued[1].seq).toBeGreaterThan(queued[0].seq);
    expect(JSON.parse(queued[0].body)).toEqual({ tag: 'cmd_a', cmd: 'openDoorD' });
    expect(await store.queuedCommands('SN1', queued[0].seq, T, 10)).toMatchObject([{ id: 'cmd_b' }]);
    expect(await store.queuedSerials()).toEqual(['SN1']);
    expect(await store.queuedCount()).toBe(2);
    expect(await store.command('cmd_x')).toMatchObject({ status: 'failed', error: 'unknown_device', batch: 'bat_1', actor: 'ops' });
    expect((await store.commandKeys({ batch: 'bat_1', limit: 10 })).map((k) => k.id)).toEqual(['cmd_x', 'cmd_b', 'cmd_a']);
    expect((await store.commandKeys({ device: 'SN1', status: 'queued', before: { at: T, id: 'cmd_b' }, limit: 10 })).map((k) => k.id)).toEqual(['cmd_a']);

    await store.write({
      kind: 'commands-published',
      published: [
        { id: 'cmd_a', at: T + 1 },
        { id: 'cmd_b', at: T + 2 },
      ],
    });
    // By name: the oldest waiting first.
    const byName = await store.write(message('SN1', { cmd: 'openDoorU', code: 0, msg: 'ok' }, T + 3));
    expect(byName.replied).toMatchObject({ commandId: 'cmd_a', cmd: 'openDoorD', publishedAt: T + 1, repliedAt: T + 3 });
    expect(byName.events).toMatchObject([{ type: 'command.replied' }]);
    // By REPLY_FIELD: the one it names, whatever the order.
    await published('SN1', 'openDoorD', 'cmd_c', T + 4);
    const byTag = await store.write(message('SN1', reply({ cmd: 'openDoorD', tag: 'cmd_c' }, 'SN1', 'tag'), T + 5));
    expect(byTag.replied?.commandId).toBe('cmd_c');
    expect(await store.command('cmd_c')).toMatchObject({ status: 'replied', repliedAt: T + 5 });
    expect(JSON.parse((await store.command('cmd_c'))!.reply!)).toMatchObject({ cmd: 'openDoorU', tag: 'cmd_c' });
    const listed = await store.listedCommand('cmd_c');
    expect(listed).toMatchObject({ status: 'replied', bodyBytes: Buffer.byteLength(listed!.body!) });
    expect((await store.write(message('SN1', { cmd: 'openDoorU', code: 0 }, T + 6))).replied?.commandId).toBe('cmd_b');
    // Nothing waits any more: a device message.
    const stray = await store.write(message('SN1', { cmd: 'openDoorU', code: 0 }, T + 7));
    expect(stray.replied).toBeUndefined();
    expect(stray.events).toMatchObject([{ type: 'device.message' }]);
    await published('SN1', 'openDoorD', 'cmd_d', T + 8);

    await accept(store, 'cmd_e', { expiresAt: T + 10 });
    const swept = await store.write({ kind: 'command-sweep', now: T + 40_000 });
    expect(swept).toMatchObject({ unanswered: 1, expired: 1, more: false, people: [] });
    expect(swept.events.map((e) => e.type).sort()).toEqual(['command.expired', 'command.unanswered']);
    expect(await store.command('cmd_d')).toMatchObject({ status: 'unanswered' });
    expect(await store.command('cmd_e')).toMatchObject({ status: 'expired' });

    await accept(store, 'cmd_f');
    await store.write({ kind: 'commands-failed', failed: [{ id: 'cmd_f', error: 'device_offline' }] });
    expect(await store.command('cmd_f')).toMatchObject({ status: 'failed', error: 'device_offline' });
    await accept(store, 'cmd_g');
    // Accepted by this process: still its own to send.
    expect(await store.command('cmd_g')).toMatchObject({ status: 'queued', acceptedBy: '101' });
    expect(await store.write({ kind: 'commands-interrupted', live: { self: '101' } })).toEqual({ failed: 0 });
    await accept(store, 'cmd_ttl', { expiresAt: T + 60_000 });
    // The next process on the same store: what the gone one accepted without a ttl fails, its own and the ttl's stay queued.
    await store.close();
    store = await reopen('202');
    await accept(store, 'cmd_h');
    expect(await store.write({ kind: 'commands-interrupted', live: { self: '202' } })).toEqual({ failed: 1 });
    expect(await store.command('cmd_g')).toMatchObject({ status: 'failed', error: 'interrupted', acceptedBy: '101' });
    expect(await store.command('cmd_h')).toMatchObject({ status: 'queued', acceptedBy: '202' });
    expect(await store.command('cmd_ttl')).toMatchObject({ status: 'queued' });
  });

  it('gives a reply back unstored while a command it could answer is queued and not yet published, when asked to hold it', async () => {
    await store.write({
      kind: 'commands',
      at: T,
      cmd: 'openDoorD',
      body: '{"cmd":"openDoorD"}',
      replyField: 'tag',
      expiresAt: null,
      batch: null,
      actor: null,
      rows: [
        { id: 'cmd_q', sn: 'SN1', status: 'queued', error: null },
        { id: 'cmd_r', sn: 'SN2', status: 'queued', error: null },
      ],
    });
    const bounds = await store.eventBounds();
    // By name, and by REPLY_FIELD: held, its payload given back, nothing stored.
    const answer = message('SN1', { cmd: 'openDoorU', code: 0 }, T + 1);
    const byName = await store.write({ ...answer, hold: true });
    expect(Buffer.from(byName.held!).toString()).toBe(answer.payload.toString());
    expect(byName.events).toEqual([]);
    const tagged = message('SN2', reply({ cmd: 'openDoorD', tag: 'cmd_r' }, 'SN2', 'tag'), T + 1);
    expect((await store.write({ ...tagged, hold: true })).held).toBeDefined();
    // Its own bytes: the writes after it leave them as they were.
    expect(Buffer.from(byName.held!).toString()).toBe(answer.payload.toString());
    expect(await store.eventBounds()).toEqual(bounds);
    expect(await store.command('cmd_q')).toMatchObject({ status: 'queued', reply: null });
    // Recorded published: the same reply pairs.
    await store.write({ kind: 'commands-published', published: [{ id: 'cmd_q', at: T + 2 }] });
    const paired = await store.write({ ...answer, hold: true });
    expect(paired.held).toBeUndefined();
    expect(paired.replied).toMatchObject({ commandId: 'cmd_q', publishedAt: T + 2, repliedAt: T + 1 });
    // No command left that it could answer: stored as a device message, held or not; nor is a record ever held.
    const stray = await store.write({ ...message('SN1', { cmd: 'openDoorU', code: 0 }, T + 3), hold: true });
    expect(stray.events).toMatchObject([{ type: 'device.message' }]);
    expect((await store.write({ ...message('SN2', { cmd: 'closeDoorU', code: 0 }, T + 3), hold: true })).held).toBeUndefined();
    expect((await store.write(message('SN2', { cmd: 'openDoorU', code: 1 }, T + 4))).events).toMatchObject([{ type: 'device.message' }]);
    const record = await store.write({ ...message('SN2', verifiedRecordU([verifiedRecord({ num: '7' })]), T + 5), hold: true });
    expect(record.held).toBeUndefined();
    expect(record.events).toMatchObject([{ type: 'face.verified' }]);
  });

  it('gives command seqs that only go up, after the newest commands are deleted', async () => {
    await published('SN1', 'openDoorD', 'cmd_1', T);
    const first = (await store.command('cmd_1')) && (await store.queuedCommands('SN1', 0, T, 10));
    expect(first).toEqual([]);
    await store.write({ kind: 'purge', before: T + 1, limit: 100 });
    await store.write({
      kind: 'commands',
      at: T + 2,
      cmd: 'openDoorD',
      body: '{}',
      expiresAt: null,
      batch: null,
      actor: null,
      rows: [{ id: 'cmd_2', sn: 'SN1', status: 'queued', error: null }],
    });
    const [second] = await store.queuedCommands('SN1', 0, T + 2, 10);
    expect(second.seq).toBeGreaterThan(1);
  });

  it('syncs people: put, send, reply, retry, delete, erase', async () => {
    await store.write({ kind: 'presence', flips: [{ sn: 'SN1', online: true, at: T, lastSeenAt: T }] });
    await store.write({ kind: 'register', serials: ['SN2'] });
    const put = await store.write({
      kind: 'person-put',
      num: '7',
      name: 'Ann',
      fields: '{"card":"1"}',
      photo: Buffer.from('jpeg'),
      hash: 'h1',
      devices: 'all',
      at: T,
      actor: 'hr',
    });
    expect(put).toEqual({
      changed: true,
      items: [
        { deviceSn: 'SN1', status: 'pending' },
        { deviceSn: 'SN2', status: 'pending' },
      ],
      wake: ['SN1', 'SN2'],
    });
    expect(
      (
        await store.write({
          kind: 'person-put',
          num: '7',
          name: 'Ann',
          fields: '{"card":"1"}',
          photo: Buffer.from('jpeg'),
          hash: 'h1',
          devices: 'all',
          at: T,
          actor: 'hr',
        })
      ).changed,
    ).toBe(false);
    expect(await store.person('7')).toMatchObject({ name: 'Ann', hasPhoto: true, allDevices: true, deleted: false, actor: 'hr' });
    expect((await store.personPhoto('7'))?.toString()).toBe('jpeg');
    expect(await store.peopleCount()).toBe(1);
    expect(await store.duePersonSerials(T, 10, '')).toEqual(['SN1', 'SN2']);
    // A page at a time, in serial order.
    expect(await store.duePersonSerials(T, 1, '')).toEqual(['SN1']);
    expect(await store.duePersonSerials(T, 1, 'SN1')).toEqual(['SN2']);
    expect(await store.duePersonSerials(T, 1, 'SN2')).toEqual([]);

    /** The person command a turn queued for the terminal. */
    const queuedFor = async (sn: string, at: number) => {
      const [row] = await store.queuedCommands(sn, 0, at, 10);
      expect(row).toMatchObject({ person: '7' });
      return row.id;
    };
    // SN3 has no row: no command.
    expect(await store.write({ kind: 'person-send', serials: ['SN3', 'SN1'], at: T })).toEqual({ queued: ['SN1'] });
    // One in flight already.
    expect(await store.write({ kind: 'person-send', serials: ['SN1'], at: T })).toEqual({ queued: [] });
    const sent = await queuedFor('SN1', T);
    const command = (await store.command(sent))!;
    expect(command).toMatchObject({ deviceSn: 'SN1', actor: 'hr', status: 'queued' });
    await store.write({ kind: 'commands-published', published: [{ id: sent, at: T + 1 }] });
    expect((await store.personSyncs('7'))[0]).toMatchObject({ deviceSn: 'SN1', op: 'upsert', status: 'sent' });
    const replyBody = reply(JSON.parse(command.body) as { cmd: string }, 'SN1', 'tag');
    const applied = await store.write(message('SN1', replyBody, T + 2));
    expect(applied.replied).toMatchObject({ commandId: sent, person: '7' });
    expect((await store.personSyncs('7'))[0]).toMatchObject({ status: 'applied' });

    // SN2 refuses, and is retried.
    expect(await store.write({ kind: 'person-send', serials: ['SN2'], at: T + 3 })).toEqual({ queued: ['SN2'] });
    const second = await queuedFor('SN2', T + 3);
    await store.write({ kind: 'commands-published', published: [{ id: second, at: T + 3 }] });
    const secondBody = JSON.parse((await store.command(second))!.body) as { cmd: string };
    const refused = await store.write(message('SN2', reply(secondBody, 'SN2', 'tag', { code: 5, msg: 'no face' }), T + 4));
    expect(refused.events.map((e) => e.type)).toEqual(['person.sync_failed', 'command.replied']);
    expect(await store.people({ status: 'failed', limit: 10 })).toMatchObject([{ num: '7' }]);
    expect(await store.people({ device: 'SN2', limit: 10 })).toMatchObject([{ num: '7', status: 'failed' }]);
    expect((await store.personSyncCounts()).sort((a, b) => a.status.localeCompare(b.status))).toEqual([
      { status: 'applied', count: 1 },
      { status: 'failed', count: 1 },
      { status: 'pending', count: 0 },
      { status: 'sent', count: 0 },
    ]);
    expect(await store.write({ kind: 'person-retry', num: '7', device: 'SN2', at: T + 5 })).toEqual({ found: true, retried: 1, wake: ['SN2'] });
    expect(await store.write({ kind: 'person-retry', num: 'nobody', at: T + 5 })).toEqual({ found: false, retried: 0, wake: [] });
    // An unanswered person command waits out its backoff.
    expect(await store.write({ kind: 'person-send', serials: ['SN2'], at: T + 6 })).toEqual({ queued: ['SN2'] });
    const third = await queuedFor('SN2', T + 6);
    await store.write({ kind: 'commands-published', published: [{ id: third, at: T + 6 }] });
    const swept = await store.write({ kind: 'command-sweep', now: T + 60_000 });
    expect(swept).toMatchObject({ unanswered: 1, people: ['SN2'] });
    expect(await store.nextPersonDueAfter(T + 60_000)).toBe(T + 60_000 + 10_000);

    const removed = await store.write({ kind: 'person-delete', num: '7', at: T + 7, actor: 'hr' });
    expect(removed.found).toBe(true);
    expect(await store.peopleCount()).toBe(0);
    expect(await store.person('7')).toMatchObject({ deleted: true });
    const erased = await store.write({ kind: 'person-erase', num: '7', at: T + 8 });
    // SN1 held them: a removal goes; SN2 never did: its row goes.
    expect(erased).toMatchObject({ events: 3, photo: 1, terminals: 1, more: false });
    expect(await store.person('7')).toBeUndefined();
    expect((await store.personSyncs('7')).map((s) => [s.deviceSn, s.op])).toEqual([['SN1', 'delete']]);
  });

  it('records delivery attempts, retries, redeliveries, endpoint state and removal', async () => {
    await store.write({ kind: 'endpoint', endpoint: ENDPOINT, at: T });
    await store.write({ kind: 'endpoint', endpoint: { ...ENDPOINT, id: 'ep_b', eventTypes: ['delivery.dead', 'endpoint.disabled'] }, at: T + 1 });
    expect((await store.endpoints()).map((e) => e.id)).toEqual(['ep_a', 'ep_b']);
    expect(await store.endpointCount()).toBe(2);
    expect(await store.endpoint('ep_a')).toMatchObject({ ...ENDPOINT, createdAt: T });
    const { events } = await store.write(message('SN1', verifiedRecordU([verifiedRecord()])));
    const [due] = await store.dueDeliveries('ep_a', T, 10);
    await store.write({ kind: 'attempt', seq: due.seq, at: T + 1, status: 500, error: null, outcome: 'retry', nextAttemptAt: T + 100 });
    expect(await store.nextDueAt('ep_a')).toBe(T + 100);
    expect(await store.dueDeliveries('ep_a', T + 50, 10)).toEqual([]);
    const dead = await store.write({ kind: 'attempt', seq: due.seq, at: T + 2, status: 500, error: null, outcome: 'dead', nextAttemptAt: T + 2 });
    expect(dead.events).toMatchObject([{ type: 'delivery.dead' }]);
    expect(await store.delivery(due.seq)).toMatchObject({ eventId: events[0].id, status: 'dead', attempts: 2, lastStatus: 500 });
    // The alert goes to ep_b only, not to the endpoint it is about.
    expect(await store.outboxDepth()).toEqual(
      expect.arrayContaining([
        { endpointId: 'ep_a', pending: 0 },
        { endpointId: 'ep_b', pending: 1 },
      ]),
    );
    expect(await store.write({ kind: 'retry-delivery', seq: due.seq, at: T + 3 })).toEqual({ changed: true });
    expect(await store.write({ kind: 'retry-delivery', seq: due.seq, at: T + 3 })).toEqual({ changed: false });
    await store.write({ kind: 'attempt', seq: due.seq, at: T + 4, status: 200, error: null, outcome: 'delivered', nextAttemptAt: T + 4 });
    expect(await store.delivery(due.seq)).toMatchObject({ status: 'delivered', deliveredAt: T + 4 });
    const { first, last } = await store.deliveryBounds();
    expect(await store.deliverySeqs({ status: 'delivered', from: first!, below: last! + 1, limit: 10 })).toEqual([due.seq]);
    expect(await store.deliverySeqs({ endpointId: 'ep_b', from: first!, below: last! + 1, limit: 10 })).toEqual([last]);
    expect(await store.deliverySeqs({ eventSeq: events[0].seq, from: first!, below: last! + 1, limit: 10 })).toEqual([due.seq]);

    expect(await store.write({ kind: 'redeliver-since', endpointId: 'ep_a', since: T, at: T + 5 })).toEqual({
      deliveries: 2,
      more: false,
      after: dead.events[0].seq,
    });
    expect(await store.delivery(due.seq)).toMatchObject({ status: 'pending', nextAttemptAt: T + 5, deliveredAt: null });

    const gone = await store.write({ kind: 'endpoint-state', id: 'ep_a', enabled: false, reason: 'gone' });
    expect(gone.changed).toBe(true);
    expect(gone.events).toMatchObject([{ type: 'endpoint.disabled' }]);
    expect(await store.endpoint('ep_a')).toMatchObject({ enabled: false, disabledReason: 'gone' });
    expect(await store.write({ kind: 'endpoint-state', id: 'nope', enabled: true, reason: null })).toEqual({ changed: false, events: [] });
    expect(await store.write({ kind: 'endpoint-delete', id: 'ep_a' })).toEqual({ more: false });
    expect(await store.endpoint('ep_a')).toBeUndefined();
    expect((await store.outboxDepth()).map((d) => d.endpointId)).toEqual(['ep_b']);
  });

  it('purges what is past retention, but not what a delivery still waits for', async () => {
    await store.write({ kind: 'endpoint', endpoint: ENDPOINT, at: T });
    const kept = await store.write(message('SN1', verifiedRecordU([verifiedRecord({ num: '1' })]), T));
    await store.write(message('SN1', heartU(), T));
    await store.write({ kind: 'presence', flips: [{ sn: 'SN2', online: false, at: T, lastSeenAt: null }] });
    await store.write({
      kind: 'reject',
      sn: 'SN1',
      topic: up('SN1'),
      receivedAt: T,
      reject: { reason: 'too_large', detail: 'big', payload: Buffer.from('x'), size: 9 },
    });
    const purged = await store.write({ kind: 'purge', before: T + 1, limit: 100 });
    expect(purged).toMatchObject({ more: false });
    expect(await store.event(kept.events[0].seq)).toBeDefined();
    expect((await store.eventBounds()).first).toBe(kept.events[0].seq);
    expect(await store.rejectBounds()).toEqual({ first: undefined, last: undefined });
  });

  it('adds and revokes named tokens, a name once', async () => {
    const token = { id: 'tok_1', name: 'ops', role: 'operator' as const, hash: 'a'.repeat(64), createdAt: T };
    expect(await store.write({ kind: 'token-add', token })).toEqual({ added: true });
    expect(await store.write({ kind: 'token-add', token: { ...token, id: 'tok_2', hash: 'b'.repeat(64) } })).toEqual({ added: false });
    expect(await store.tokens()).toEqual([token]);
    expect(await store.write({ kind: 'token-delete', id: 'tok_1' })).toEqual({ removed: true });
    expect(await store.write({ kind: 'token-delete', id: 'tok_1' })).toEqual({ removed: false });
  });

  it('stores broker drops as an event, and fails a bad job alone in its batch', async () => {
    const jobs = [
      store.write({ kind: 'broker-drops', dropped: 3, source: 'probe', sent: 10, at: T }),
      store.write({
        kind: 'commands',
        at: T,
        cmd: 'x',
        body: 'not json',
        replyField: 'tag',
        expiresAt: null,
        batch: null,
        actor: null,
        rows: [{ id: 'c', sn: 'S', status: 'queued', error: null }],
      }),
      store.write(message('SN1', verifiedRecordU([verifiedRecord()]))),
    ];
    const [drops, bad, record] = await Promise.allSettled(jobs);
    expect(drops).toMatchObject({ status: 'fulfilled', value: { events: [{ type: 'broker.drops' }] } });
    expect(bad.status).toBe('rejected');
    expect(record).toMatchObject({ status: 'fulfilled', value: { events: [{ type: 'face.verified' }] } });
    expect(store.healthy).toBe(true);
    expect(await store.command('c')).toBeUndefined();
  });
});

// Two stores on one database, as two replicas are (README §PostgreSQL, several writers).
describe('two PostgreSQL stores on one database', () => {
  let stores: Store[] = [];
  let url: string;
  beforeEach(async () => {
    url = await pg!.database(`shared_${++databases}`);
    stores = [await openPostgresStore(url, { ...POLICY, replica: '303' }, { log }), await openPostgresStore(url, { ...POLICY, replica: '404' }, { log })];
  });
  afterEach(async () => {
    await Promise.all(stores.map((s) => s.close()));
  });

  it('flip a presence once: one device.online of two replicas hearing it', async () => {
    await stores[0].write({ kind: 'presence', flips: [{ sn: 'SN1', online: false, at: T, lastSeenAt: null }] });
    const both = await Promise.all(stores.map((s) => s.write({ kind: 'presence', flips: [{ sn: 'SN1', online: true, at: T + 1, lastSeenAt: T + 1 }] })));
    expect(both.flatMap((r) => r.events).map((e) => e.type)).toEqual(['device.online']);
  });

  it('pair two replies of one name, arriving at two replicas, with two commands', async () => {
    for (const id of ['cmd_1', 'cmd_2']) {
      await accept(stores[0], id, { sn: 'SN1', cmd: 'openDoorD' });
      await stores[0].write({ kind: 'commands-published', published: [{ id, at: T + 1 }] });
    }
    const replies = await Promise.all(stores.map((s, i) => s.write(message('SN1', { cmd: 'openDoorU', code: 0, n: i }, T + 2))));
    expect(replies.map((r) => r.replied?.commandId).sort()).toEqual(['cmd_1', 'cmd_2']);
  });

  it('store a retransmission once, and make event seqs visible in order whichever replica commits', async () => {
    const body = verifiedRecordU([verifiedRecord({ num: '1' })]);
    const twice = await Promise.all(stores.map((s) => s.write(message('SN1', body))));
    expect(twice.flatMap((r) => r.events)).toHaveLength(1);
    // Many small commits from both: whenever a seq is seen, every lower one is there too.
    const writes = Array.from({ length: 40 }, (_, i) => stores[i % 2].write(message(`SN${i}`, verifiedRecordU([verifiedRecord({ num: `n${i}` })]))));
    const seen: number[][] = [];
    const reader = (async () => {
      for (let i = 0; i < 20; i++) {
        const { last } = await stores[1].eventBounds();
        if (last !== undefined) seen.push(await stores[1].eventSeqs({ from: 0, below: last + 1, limit: 100 }));
      }
    })();
    await Promise.all([...writes, reader]);
    expect(seen.length).toBeGreaterThan(0);
    const all = await stores[0].eventSeqs({ from: 0, below: Number.MAX_SAFE_INTEGER, limit: 100 });
    expect(all).toHaveLength(41);
    for (const seqs of seen) expect(seqs.length).toBe(all.filter((seq) => seq <= seqs[0]).length);
  });

  it('fail the queued commands without a ttl of a replica only once it holds no membership lock', async () => {
    const queue = (store: Store, id: string) => accept(store, id, { sn: 'SN1', cmd: 'openDoorD' });
    await queue(stores[0], 'cmd_live');
    await queue(stores[1], 'cmd_dead');
    // Replica 303 holds its membership lock (as pg-leases.ts takes it); 404 holds none.
    const KEY = 7_000_001;
    const member = new postgresClient.Client({ connectionString: url });
    await member.connect();
    await member.query('select pg_advisory_lock($1, $2)', [KEY, 303]);
    expect(await stores[1].write({ kind: 'commands-interrupted', live: { members: KEY } })).toEqual({ failed: 1 });
    expect(await stores[0].command('cmd_dead')).toMatchObject({ status: 'failed', error: 'interrupted', acceptedBy: '404' });
    expect(await stores[0].command('cmd_live')).toMatchObject({ status: 'queued', acceptedBy: '303' });
    // Its connection closed (the replica died): the lock is gone, and so is its claim.
    await member.end();
    expect(await stores[1].write({ kind: 'commands-interrupted', live: { members: KEY } })).toEqual({ failed: 1 });
    expect(await stores[0].command('cmd_live')).toMatchObject({ status: 'failed', error: 'interrupted' });
  });
});

// README §What survives what: a message whose data the server refuses would be refused at every redelivery.
describe('PostgreSQL refusing a message for its data', () => {
  it('fails only the refused one of records stored together, the others each with its own events, a retransmission once', async () => {
    const store = await openPostgresStore(await pg!.database(`refused_${++databases}`), POLICY, { log });
    try {
      const once = verifiedRecordU([verifiedRecord({ num: '1' })]);
      const results = await Promise.allSettled(
        [
          message('SN1', once),
          message('SN2', verifiedRecordU([verifiedRecord({ num: '2' })])),
          message('BAD\u0000', verifiedRecordU([verifiedRecord({ num: '3' })])),
          message('SN1', once, T + 1),
          message('SN3', verifiedRecordU([verifiedRecord({ num: '4' })])),
        ].map((job) => store.write(job)),
      );
      expect(results.map((result) => result.status)).toEqual(['fulfilled', 'fulfilled', 'rejected', 'fulfilled', 'fulfilled']);
      expect((results[2] as PromiseRejectedResult).reason).toBeInstanceOf(Unprocessable);
      const events = results.map((result) => (result.status === 'fulfilled' ? result.value.events.map((event) => event.deviceSn) : undefined));
      expect(events).toEqual([['SN1'], ['SN2'], undefined, [], ['SN3']]);
      expect(await store.eventSeqs({ from: 0, below: Number.MAX_SAFE_INTEGER, limit: 10 })).toHaveLength(3);
      expect(store.healthy).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('stores every image of a message holding more records than one statement of images takes', async () => {
    const store = await openPostgresStore(await pg!.database(`images_${++databases}`), { ...POLICY, maxRecords: 2000 }, { log });
    try {
      const records = Array.from({ length: 1001 }, (_, i) => verifiedRecord({ num: String(i) }));
      const { events } = await store.write(message('SN1', verifiedRecordU(records)));
      expect(events).toHaveLength(1001);
      for (const event of [events[0], events[999], events[1000]]) expect(await store.image(event.seq)).toMatch(/^\/9j\//);
      expect(await store.eventKey(events[1000].id)).toEqual({ seq: events[1000].seq, hasImage: true });
    } finally {
      await store.close();
    }
  });

  it('fails it as unprocessable, with its start and size, and commits the rest of its batch', async () => {
    const store = await openPostgresStore(await pg!.database(`refused_${++databases}`), POLICY, { log });
    try {
      // A serial no transport passes (a NUL): the one value a text column refuses that a test can hand the store directly.
      const bad = message('BAD\u0000', verifiedRecordU([verifiedRecord({ num: '1' })]));
      const [refused, fine] = await Promise.allSettled([store.write(bad), store.write(message('SN1', verifiedRecordU([verifiedRecord({ num: '2' })])))]);
      expect(refused.status).toBe('rejected');
      const err = (refused as PromiseRejectedResult).reason;
      expect(err).toBeInstanceOf(Unprocessable);
      expect(err).toMatchObject({ size: bad.payload.length, detail: expect.stringMatching(/^the database refused its data/) });
      expect(Buffer.from(err.sample).equals(bad.payload.subarray(0, err.sample.length))).toBe(true);
      expect(fine).toMatchObject({ status: 'fulfilled', value: { events: [{ type: 'face.verified', deviceSn: 'SN1' }] } });
    } finally {
      await store.close();
    }
  });
});
