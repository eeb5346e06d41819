import { describe, expect, it } from 'vitest';
import type { EventRecord, EventType } from '../../src/events/events.ts';
import { apiView, eventView, listedView } from '../../src/events/view.ts';
import { NODE_FLAGS } from '../../src/lib/runtime.ts';
import { runModuleScript } from '../support/module-script.ts';

const AT = Date.UTC(2026, 10, 22, 2, 0, 0, 123);
const IMAGE = '/9j/4AAQSkZJRgABAQ';
const FACE_FIELDS = { num: '1001', name: 'Zhang San', verifiedCode: 0, time: '2026-11-22 09:59:58', personType: '1' };

const row = (type: EventType, fields: unknown, over: Partial<EventRecord> = {}): EventRecord => ({
  seq: 1,
  id: 'evt_abc',
  type,
  deviceSn: '123456789',
  receivedAt: AT,
  fields: JSON.stringify(fields),
  hasImage: false,
  ...over,
});
/** The view as a receiver sees it: through JSON. */
const wire = (r: EventRecord, img?: string) => JSON.parse(JSON.stringify(eventView(r, img))) as Record<string, unknown>;

describe('eventView', () => {
  describe('person events (README §People on the terminals)', () => {
    it('gives person.synced without a terminal, and deleted when the removal was applied', () => {
      expect(wire(row('person.synced', { num: '1001' }))).toEqual({
        type: 'person.synced',
        id: 'evt_abc',
        num: '1001',
        code: null,
        message: null,
        received_at: '2026-11-22T02:00:00.123Z',
      });
      expect(wire(row('person.synced', { num: '1001', deleted: true }))).toMatchObject({ num: '1001', deleted: true });
    });

    it('gives person.sync_failed with the terminal and what it answered', () => {
      expect(wire(row('person.sync_failed', { num: '1001', code: 7, message: 'no face' }))).toEqual({
        type: 'person.sync_failed',
        id: 'evt_abc',
        device_sn: '123456789',
        num: '1001',
        code: 7,
        message: 'no face',
        received_at: '2026-11-22T02:00:00.123Z',
      });
    });
  });

  describe('face events', () => {
    it('gives the documented example body for a verified record', () => {
      expect(wire(row('face.verified', FACE_FIELDS), IMAGE)).toEqual({
        type: 'face.verified',
        id: 'evt_abc',
        device_sn: '123456789',
        user_id: '1001',
        name: 'Zhang San',
        img: IMAGE,
        verifiedCode: 0,
        bot_time: '2026-11-22 09:59:58',
        personType: '1',
        received_at: '2026-11-22T02:00:00.123Z',
      });
    });

    it('puts the keys in the documented order', () => {
      expect(Object.keys(wire(row('face.verified', FACE_FIELDS), IMAGE))).toEqual([
        'type',
        'id',
        'device_sn',
        'user_id',
        'name',
        'img',
        'verifiedCode',
        'bot_time',
        'personType',
        'received_at',
      ]);
    });

    it.each(['face.verified', 'face.rejected', 'face.stranger'] as const)('maps the six fields for %s', (type) => {
      const view = wire(row(type, { ...FACE_FIELDS, num: '7', name: 'Li Si', verifiedCode: 3, time: 't1', personType: '2' }), 'IMG');
      expect(view).toMatchObject({ type, user_id: '7', name: 'Li Si', img: 'IMG', verifiedCode: 3, bot_time: 't1', personType: '2' });
    });

    it('keeps a numeric personType a number', () => {
      const view = wire(row('face.verified', { ...FACE_FIELDS, personType: 1 }));
      expect(view.personType).toBe(1);
    });

    it('keeps a string personType a string', () => {
      expect(wire(row('face.rejected', { ...FACE_FIELDS, personType: '2' })).personType).toBe('2');
    });

    it('keeps a string num a string, with its leading zeros', () => {
      expect(wire(row('face.verified', { ...FACE_FIELDS, num: '007' })).user_id).toBe('007');
    });

    it('keeps a numeric num a number', () => {
      expect(wire(row('face.verified', { ...FACE_FIELDS, num: 1001 })).user_id).toBe(1001);
    });

    it('keeps a string verifiedCode a string', () => {
      expect(wire(row('face.rejected', { ...FACE_FIELDS, verifiedCode: '0' })).verifiedCode).toBe('0');
    });

    it('keeps bot_time as the terminal wrote it', () => {
      expect(wire(row('face.verified', { ...FACE_FIELDS, time: '2026/11/22 9:59' })).bot_time).toBe('2026/11/22 9:59');
      expect(wire(row('face.verified', { ...FACE_FIELDS, time: 1795341598 })).bot_time).toBe(1795341598);
    });

    it('keeps a unicode name as sent', () => {
      expect(wire(row('face.verified', { ...FACE_FIELDS, name: '张三 🙂' })).name).toBe('张三 🙂');
    });

    it('leaves img out of the JSON when no image is given', () => {
      const json = JSON.stringify(eventView(row('face.verified', FACE_FIELDS)));
      expect(json).not.toContain('"img"');
      expect(JSON.parse(json)).toMatchObject({ user_id: '1001', verifiedCode: 0 });
    });

    it('includes img when one is given', () => {
      expect(JSON.stringify(eventView(row('face.verified', FACE_FIELDS), IMAGE))).toContain(`"img":"${IMAGE}"`);
    });

    it('leaves user_id and name out of the JSON for a stranger without them', () => {
      const view = wire(row('face.stranger', { verifiedCode: 0, time: 't', personType: '3' }), IMAGE);
      expect(view).not.toHaveProperty('user_id');
      expect(view).not.toHaveProperty('name');
      expect(view).toMatchObject({ type: 'face.stranger', img: IMAGE, bot_time: 't', personType: '3' });
    });

    it('keeps a null the terminal sent', () => {
      const view = wire(row('face.stranger', { num: null, name: null, time: 't' }));
      expect(view).toHaveProperty('user_id', null);
      expect(view).toHaveProperty('name', null);
    });

    it('does not take the image from the fields', () => {
      const view = wire(row('face.verified', { ...FACE_FIELDS, img: 'FROM-FIELDS', liveImageBase64: 'ALSO' }));
      expect(view).not.toHaveProperty('img');
      expect(JSON.stringify(view)).not.toContain('ALSO');
    });

    it('does not let the fields override the metadata', () => {
      const view = wire(row('face.verified', { ...FACE_FIELDS, type: 'x', id: 'y', device_sn: 'z', received_at: 'w' }));
      expect(view).toMatchObject({ type: 'face.verified', id: 'evt_abc', device_sn: '123456789', received_at: '2026-11-22T02:00:00.123Z' });
    });
  });

  describe('metadata', () => {
    it('carries type, id and device_sn from the row', () => {
      const view = wire(row('face.verified', FACE_FIELDS, { id: 'evt_XYZ', deviceSn: 'SN-42' }));
      expect(view).toMatchObject({ type: 'face.verified', id: 'evt_XYZ', device_sn: 'SN-42' });
    });

    it('gives received_at in UTC ISO 8601 with milliseconds', () => {
      expect(wire(row('face.verified', FACE_FIELDS, { receivedAt: 0 })).received_at).toBe('1970-01-01T00:00:00.000Z');
      expect(wire(row('device.online', { last_seen_at: null }, { receivedAt: Date.UTC(2026, 0, 1, 23, 59, 59, 999) })).received_at).toBe(
        '2026-01-01T23:59:59.999Z',
      );
    });
  });

  describe('device events', () => {
    it.each(['device.online', 'device.offline'] as const)('gives last_seen_at for %s', (type) => {
      expect(wire(row(type, { last_seen_at: '2026-11-22T01:58:30.000Z' }))).toEqual({
        type,
        id: 'evt_abc',
        device_sn: '123456789',
        last_seen_at: '2026-11-22T01:58:30.000Z',
        received_at: '2026-11-22T02:00:00.123Z',
      });
    });

    it('keeps a null last_seen_at', () => {
      expect(wire(row('device.online', { last_seen_at: null }))).toHaveProperty('last_seen_at', null);
    });

    it('has no face fields on a presence event', () => {
      const view = wire(row('device.offline', { last_seen_at: null }), IMAGE);
      for (const key of ['user_id', 'name', 'img', 'verifiedCode', 'bot_time', 'personType']) expect(view).not.toHaveProperty(key);
    });

    it('carries the message fields under message for device.message', () => {
      const body = { cmd: 'openDoorResultU', result: 0, detail: { door: 1, note: '门已开' }, list: [1, '2'] };
      expect(wire(row('device.message', body))).toEqual({
        type: 'device.message',
        id: 'evt_abc',
        device_sn: '123456789',
        message: body,
        received_at: '2026-11-22T02:00:00.123Z',
      });
    });

    it('does not spread message fields beside the metadata', () => {
      const view = wire(row('device.message', { cmd: 'x', id: 'not-the-id', type: 'not-the-type' }));
      expect(view).toMatchObject({ type: 'device.message', id: 'evt_abc', message: { cmd: 'x', id: 'not-the-id', type: 'not-the-type' } });
    });
  });
});

describe('apiView and listedView', () => {
  it('are the webhook body without the image, with has_image', () => {
    const r = row('face.verified', FACE_FIELDS, { hasImage: true });
    const { img: _img, ...body } = wire(r, IMAGE);
    expect(apiView(r)).toEqual({ ...body, has_image: true });
    expect(listedView({ ...r, fieldsBytes: r.fields.length })).toEqual(apiView(r));
  });

  it('lists an event whose fields were not read (over SHOWN_BYTES) short: what it is, truncated, and the size of its fields', () => {
    const listed = listedView({
      seq: 7,
      id: 'evt_big',
      type: 'device.message',
      deviceSn: 'BIG1',
      receivedAt: AT,
      hasImage: false,
      fields: null,
      fieldsBytes: 7_340_052,
    });
    expect(listed).toEqual({
      type: 'device.message',
      id: 'evt_big',
      device_sn: 'BIG1',
      received_at: '2026-11-22T02:00:00.123Z',
      has_image: false,
      truncated: true,
      fields_bytes: 7_340_052,
    });
  });
});

describe('the views and outcomes on the hot path', () => {
  it('leave no garbage for a full collection (README §Performance, "The views\' hidden classes")', () => {
    // A webhook, an API item and a live stream's line each make a view, and
    // each message stored an outcome (ingest/interpret.ts, outcomeOf). On
    // Node 20, a spread followed by new keys made new hidden classes for each
    // view, which outlive the young generation: ~1.8 KB a view, 90 MB here.
    // V8's sampling heap profiler counts what only a full collection freed.
    const script = `
      const { Session } = await import('node:inspector');
      const { apiView, eventView } = await import(${JSON.stringify(new URL('../../src/events/view.ts', import.meta.url).href)});
      const { outcomeOf } = await import(${JSON.stringify(new URL('../../src/ingest/interpret.ts', import.meta.url).href)});
      const session = new Session();
      session.connect();
      const post = (method, params) => new Promise((resolve, reject) => session.post(method, params, (err, result) => (err ? reject(err) : resolve(result))));
      await post('HeapProfiler.enable');
      await post('HeapProfiler.startSampling', { samplingInterval: 4096, includeObjectsCollectedByMajorGC: true, includeObjectsCollectedByMinorGC: false });
      let keys = 0;
      for (let i = 0; i < 50000; i++) {
        const event = { id: 'evt_' + i, type: 'face.verified', deviceSn: 'PS0001', receivedAt: 1764000000000 + i, hasImage: true,
          fields: JSON.stringify({ num: String(i), name: 'Zhang San', verifiedCode: 0, time: '2026-11-22 09:59:58', personType: '1' }) };
        keys += Object.keys(eventView(event, 'slot')).length + Object.keys(apiView(event)).length;
        const meaning = { cmd: 'verifiedRecordU', heartbeat: false, events: [event], rejects: [], reply: undefined };
        keys += Object.keys(outcomeOf(meaning, { events: [event], rejected: [], unkept: 0 })).length;
      }
      const { profile } = await post('HeapProfiler.stopSampling');
      const sum = (node) => node.selfSize + node.children.reduce((total, child) => total + sum(child), 0);
      console.log(JSON.stringify({ keys, freedByFullGc: sum(profile.head) }));
    `;
    const run = runModuleScript(script, NODE_FLAGS);
    const { keys, freedByFullGc } = JSON.parse(run.stdout) as { keys: number; freedByFullGc: number };
    expect(keys).toBe(50000 * 29);
    expect(freedByFullGc).toBeLessThan(16 * 1024 * 1024);
  });
});
