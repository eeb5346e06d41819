import { describe, expect, it } from 'vitest';
import { presenceEvent } from '../../src/events/events.ts';
import { randomId } from '../../src/events/ids.ts';
import { type EventPolicy, eventsFromUplink } from '../../src/ingest/message-events.ts';
import { decodeUplink, type FaceRecord, type Uplink } from '../../src/protocol/uplink.ts';

const PASSED: EventPolicy = { forward: 'passed', images: 'inline' };
const ALL: EventPolicy = { forward: 'all', images: 'inline' };
const OMIT: EventPolicy = { forward: 'passed', images: 'omit' };
const AT = Date.UTC(2026, 10, 22, 2, 0, 0, 123);
const IMAGE = '/9j/4AAQSkZJRgABAQ';

// As decoded from JSON: a key given as undefined is left out.
const record = (over: Record<string, unknown> = {}): FaceRecord => {
  const full: Record<string, unknown> = {
    num: '1001',
    name: 'Zhang San',
    liveImageBase64: IMAGE,
    verifiedCode: 0,
    time: '2026-11-22 09:59:58',
    personType: '1',
    ...over,
  };
  return Object.fromEntries(Object.entries(full).filter(([, value]) => value !== undefined));
};
/**
 * The records sent in a message and decoded as the bridge decodes them.
 * `escaped`: every slash sent as `\/`, as some terminals' JSON does (the
 * same values; the payload then has escapes, and is parsed whole).
 */
const message = (cmd: 'verifiedRecordU' | 'strangerRecordU', records: FaceRecord[], escaped = false): Uplink => {
  const text = JSON.stringify({ cmd, data: records });
  const decoded = decodeUplink(new TextEncoder().encode(escaped ? text.replaceAll('/', '\\/') : text));
  if (!decoded.ok) throw new Error(decoded.detail);
  return decoded.msg;
};
/** A stored image as text. */
const imageOf = (event: { image?: Uint8Array }) => event.image && Buffer.from(event.image).toString();
const verified = (...records: FaceRecord[]) => message('verifiedRecordU', records);
const stranger = (...records: FaceRecord[]) => message('strangerRecordU', records);
const one = (msg: Uplink, policy = PASSED, sn = '123456789') => {
  const events = eventsFromUplink(sn, msg, AT, policy);
  expect(events).toHaveLength(1);
  return events[0];
};

describe('eventsFromUplink', () => {
  describe('types with FORWARD=passed', () => {
    it.each([
      ['personType "1" and verifiedCode 0', { personType: '1', verifiedCode: 0 }, 'face.verified'],
      ['personType 1 (number) and verifiedCode 0', { personType: 1, verifiedCode: 0 }, 'face.verified'],
      ['personType "2"', { personType: '2', verifiedCode: 0 }, 'face.rejected'],
      ['personType 2 (number)', { personType: 2, verifiedCode: 0 }, 'face.rejected'],
      ['verifiedCode 1', { personType: '1', verifiedCode: 1 }, 'face.rejected'],
      ['no personType', { personType: undefined, verifiedCode: 0 }, 'face.rejected'],
      ['no verifiedCode', { personType: '1', verifiedCode: undefined }, 'face.rejected'],
    ])('%s gives %s', (_label, over, type) => {
      expect(one(verified(record(over))).type).toBe(type);
    });
  });

  it('makes every verified record face.verified with FORWARD=all', () => {
    const events = eventsFromUplink('sn1', verified(record({ personType: '2', verifiedCode: 5 }), record()), AT, ALL);
    expect(events.map((e) => e.type)).toEqual(['face.verified', 'face.verified']);
  });

  it('makes stranger records face.stranger, whatever FORWARD says', () => {
    expect(one(stranger({ liveImageBase64: IMAGE, time: 't' })).type).toBe('face.stranger');
    expect(one(stranger({ liveImageBase64: IMAGE, time: 't' }), ALL).type).toBe('face.stranger');
  });

  it('gives one event per record of a batch, in order', () => {
    const events = eventsFromUplink('sn1', verified(record({ num: '1' }), record({ num: '2', verifiedCode: 9 }), record({ num: '3' })), AT, PASSED);
    expect(events.map((e) => [e.type, JSON.parse(e.fields).num])).toEqual([
      ['face.verified', '1'],
      ['face.rejected', '2'],
      ['face.verified', '3'],
    ]);
    expect(new Set(events.map((e) => e.id)).size).toBe(3);
  });

  it('gives no event for a heartbeat', () => {
    expect(eventsFromUplink('sn1', { cmd: 'heartU' }, AT, PASSED)).toEqual([]);
  });

  it('keeps an unknown cmd as a device.message with its body', () => {
    const body = { cmd: 'openDoorResultU', result: 0 };
    const event = one({ cmd: 'openDoorResultU', body });
    expect(event.type).toBe('device.message');
    expect(JSON.parse(event.fields)).toEqual(body);
    expect(event.image).toBeUndefined();
    expect(event.id).toMatch(/^evt_/);
  });

  it('fills serial and reception time', () => {
    const event = one(verified(record()), PASSED, 'ABC');
    expect(event.deviceSn).toBe('ABC');
    expect(event.receivedAt).toBe(AT);
  });

  describe('ids', () => {
    const idOf = (r: FaceRecord, sn = 'sn1', at = AT) => eventsFromUplink(sn, verified(r), at, PASSED)[0].id;

    it('start with evt_', () => {
      expect(idOf(record())).toMatch(/^evt_[A-Za-z0-9_-]+$/);
    });

    it('are the same for the same record, even received later', () => {
      expect(idOf(record(), 'sn1', AT)).toBe(idOf(record(), 'sn1', AT + 3_600_000));
    });

    it('do not depend on the order of the keys', () => {
      const a = { num: '1', name: 'A', liveImageBase64: IMAGE, verifiedCode: 0, time: 't', personType: '1' };
      const b = { personType: '1', time: 't', verifiedCode: 0, liveImageBase64: IMAGE, name: 'A', num: '1' };
      expect(idOf(a)).toBe(idOf(b));
    });

    it('are those of the version before for the same record, its image parsed whole or lifted out of the payload', () => {
      const sent = record({ liveImageBase64: '/9j/4AAQSkZJRgABAQAAAQABAAD/2wBDAAgGBgcGBQgHBwcJCQgKDA==' });
      const before = 'evt_DI9XRXz8lM_AUkbX-IOctXUmGv';
      expect(eventsFromUplink('FG2024001', message('verifiedRecordU', [sent]), AT, PASSED)[0].id).toBe(before);
      expect(eventsFromUplink('FG2024001', message('verifiedRecordU', [sent], true), AT, PASSED)[0].id).toBe(before);
      const quoted = record({ name: '张三 "Z"', liveImageBase64: 'a/b' });
      expect(eventsFromUplink('FG2024001', message('verifiedRecordU', [quoted]), AT, PASSED)[0].id).toBe('evt_T6RS6qItkc75IO3_DI4d98nkNT');
    });

    it('differ when the image differs', () => {
      expect(idOf(record({ liveImageBase64: 'AAAA' }))).not.toBe(idOf(record({ liveImageBase64: 'BBBB' })));
    });

    it('differ when the serial differs', () => {
      expect(idOf(record(), 'sn1')).not.toBe(idOf(record(), 'sn2'));
    });

    it('differ when any other field differs', () => {
      expect(idOf(record({ time: '2026-11-22 09:59:58' }))).not.toBe(idOf(record({ time: '2026-11-22 09:59:59' })));
      expect(idOf(record({ personType: '1' }))).not.toBe(idOf(record({ personType: 1 })));
    });

    it('differ for two identical device messages (two replies to two commands)', () => {
      const msg: Uplink = { cmd: 'replyU', body: { cmd: 'replyU', ok: true } };
      expect(one(msg).id).toMatch(/^evt_/);
      expect(one(msg).id).not.toBe(one(msg).id);
    });
  });

  describe('fields', () => {
    it('is JSON of the record without the image', () => {
      const fields = JSON.parse(one(verified(record())).fields);
      expect(fields).toEqual({ num: '1001', name: 'Zhang San', verifiedCode: 0, time: '2026-11-22 09:59:58', personType: '1' });
      expect(fields).not.toHaveProperty('liveImageBase64');
    });

    it('keeps the terminal values untouched (no type coercion) and extra keys', () => {
      const fields = JSON.parse(one(verified(record({ num: 1001, personType: 1, temperature: 36.5 }))).fields);
      expect(fields.num).toBe(1001);
      expect(fields.personType).toBe(1);
      expect(fields.verifiedCode).toBe(0);
      expect(fields.temperature).toBe(36.5);
    });

    it('holds what a stranger record carries', () => {
      expect(JSON.parse(one(stranger({ liveImageBase64: IMAGE, time: 't' })).fields)).toEqual({ time: 't' });
    });
  });

  describe('image', () => {
    it('carries the base64 image with IMAGES=inline', () => {
      expect(imageOf(one(verified(record())))).toBe(IMAGE);
    });

    it('is absent with IMAGES=omit, and not hidden in fields either', () => {
      const event = one(verified(record()), OMIT);
      expect(event.image).toBeUndefined();
      expect(event.fields).not.toContain(IMAGE);
    });

    it('is kept as JSON string content when the payload had escapes', () => {
      const sent = 'say "cheese"\\\n\u0001';
      const event = one(message('verifiedRecordU', [record({ liveImageBase64: sent })], true));
      expect(imageOf(event)).toBe('say \\"cheese\\"\\\\\\n\\u0001');
      expect(JSON.parse(`"${imageOf(event)}"`)).toBe(sent);
      // Base64 needs no escaping: a payload with escapes elsewhere leaves it as it is.
      expect(imageOf(one(message('verifiedRecordU', [record()], true)))).toBe(IMAGE);
    });

    it('is absent when the record has none', () => {
      expect(one(verified(record({ liveImageBase64: undefined }))).image).toBeUndefined();
    });

    it('is left out of device messages too with IMAGES=omit, at any depth, and kept with inline', () => {
      const body = {
        cmd: 'getPhotoResultU',
        liveImageBase64: IMAGE,
        person: { name: 'Li Si', photo: IMAGE, faceImage: IMAGE, imageCount: 2 },
        list: [{ photoBase64: IMAGE }],
      };
      const omitted = JSON.parse(one({ cmd: 'getPhotoResultU', body }, OMIT).fields);
      expect(omitted).toEqual({ cmd: 'getPhotoResultU', person: { name: 'Li Si', imageCount: 2 }, list: [{}] });
      expect(JSON.parse(one({ cmd: 'getPhotoResultU', body }, PASSED).fields)).toEqual(body);
    });

    it('leaves every image of a face record out with IMAGES=omit, at any depth, and keeps them with inline', () => {
      const sent = record({ snapImageBase64: IMAGE, photo: IMAGE, extra: { facePhotoBase64: IMAGE, photoCount: 2 } });
      const omitted = one(verified(sent), OMIT);
      expect(JSON.parse(omitted.fields)).toEqual({
        num: '1001',
        name: 'Zhang San',
        verifiedCode: 0,
        time: '2026-11-22 09:59:58',
        personType: '1',
        extra: { photoCount: 2 },
      });
      expect(omitted.fields).not.toContain(IMAGE);
      const { liveImageBase64: _image, ...kept } = sent;
      expect(JSON.parse(one(verified(sent), PASSED).fields)).toEqual(kept);
    });

    it('does not change the id, which comes from the record as sent', () => {
      expect(one(verified(record()), OMIT).id).toBe(one(verified(record()), PASSED).id);
      const sent = record({ snapImageBase64: IMAGE });
      expect(one(verified(sent), OMIT).id).toBe(one(verified(sent), PASSED).id);
      expect(one(verified(sent), OMIT).id).not.toBe(one(verified(record({ snapImageBase64: 'other' })), OMIT).id);
    });
  });
});

describe('presenceEvent', () => {
  it('makes a device.online event with the last time seen', () => {
    const event = presenceEvent('sn1', true, AT, AT - 1000);
    expect(event).toMatchObject({ type: 'device.online', deviceSn: 'sn1', receivedAt: AT });
    expect(event.id).toMatch(/^evt_/);
    expect(JSON.parse(event.fields)).toEqual({ last_seen_at: new Date(AT - 1000).toISOString() });
    expect(event.image).toBeUndefined();
  });

  it('makes a device.offline event, last_seen_at null when never seen', () => {
    const event = presenceEvent('sn1', false, AT, null);
    expect(event.type).toBe('device.offline');
    expect(JSON.parse(event.fields)).toEqual({ last_seen_at: null });
  });

  it('gives each transition its own id', () => {
    expect(presenceEvent('sn1', true, AT, null).id).not.toBe(presenceEvent('sn1', true, AT, null).id);
  });
});

describe('randomId', () => {
  it('starts with the prefix and an underscore', () => {
    expect(randomId('cmd')).toMatch(/^cmd_[A-Za-z0-9_-]{22}$/);
    expect(randomId('evt')).toMatch(/^evt_[A-Za-z0-9_-]{22}$/);
  });

  it('does not repeat', () => {
    const ids = new Set(Array.from({ length: 1000 }, () => randomId('cmd')));
    expect(ids.size).toBe(1000);
  });
});
