import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { eventsFromUplink } from '../../src/ingest/message-events.ts';
import { decodeUplink, REJECT_REASONS } from '../../src/protocol/uplink.ts';

const bytes = (s: string) => new TextEncoder().encode(s);

// Property tests of the upLink codec: whatever a terminal (or anyone on the
// broker) sends, decoding answers, never throws, never pollutes prototypes.

describe('decodeUplink under arbitrary input', () => {
  it('never throws on arbitrary bytes, and says why it refuses', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 2048 }), (payload) => {
        const decoded = decodeUplink(payload);
        if (!decoded.ok) expect(REJECT_REASONS).toContain(decoded.reason);
      }),
      { numRuns: 2000 },
    );
  });

  it('never throws on arbitrary JSON, however nested', () => {
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 12 }), (value) => {
        const decoded = decodeUplink(bytes(JSON.stringify(value)));
        expect(typeof decoded.ok).toBe('boolean');
      }),
      { numRuns: 2000 },
    );
  });

  it('keeps every well-typed record exactly as sent', () => {
    const record = fc.record(
      {
        num: fc.oneof(fc.string(), fc.integer()),
        name: fc.string(),
        liveImageBase64: fc.base64String(),
        verifiedCode: fc.integer(),
        time: fc.string(),
        personType: fc.oneof(fc.string(), fc.integer()),
      },
      { requiredKeys: [] },
    );
    fc.assert(
      fc.property(fc.constantFrom('verifiedRecordU', 'strangerRecordU'), fc.array(record, { minLength: 1, maxLength: 5 }), (cmd, data) => {
        const text = JSON.stringify({ cmd, data });
        const records = data.map(({ liveImageBase64: _image, ...rest }) => rest);
        const fields = records.map((rest) => JSON.stringify(rest));
        // Base64 needs no escape: its text and its JSON string content are the same bytes.
        const images = data.map(({ liveImageBase64: image }) => (image === undefined ? undefined : { text: Buffer.from(image), content: Buffer.from(image) }));
        expect(decodeUplink(bytes(text))).toEqual({ ok: true, msg: { cmd, records, images, fields, malformed: [] } });
      }),
      { numRuns: 1000 },
    );
  });

  it('turns any image into text that goes between the quotes of a JSON string as it is', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', minLength: 1 }), fc.boolean(), (image, withName) => {
        const record = withName ? { name: 'A "B"', liveImageBase64: image } : { liveImageBase64: image };
        const decoded = decodeUplink(bytes(JSON.stringify({ cmd: 'verifiedRecordU', data: [record] })));
        if (!decoded.ok || !('records' in decoded.msg)) throw new Error('a well-typed record was refused');
        const [event] = eventsFromUplink('sn', decoded.msg, 0, { forward: 'all', images: 'inline' });
        expect(JSON.parse(`"${Buffer.from(event.image ?? []).toString()}"`)).toBe(image);
      }),
      { numRuns: 1000 },
    );
  });

  it('gives the same events whether the images are lifted out of the payload or parsed with it', () => {
    const record = fc.record(
      { num: fc.string(), name: fc.string(), liveImageBase64: fc.base64String(), extra: fc.jsonValue({ maxDepth: 2 }) },
      { requiredKeys: ['liveImageBase64'] },
    );
    fc.assert(
      fc.property(fc.array(record, { minLength: 1, maxLength: 4 }), (data) => {
        const text = JSON.stringify({ cmd: 'verifiedRecordU', data });
        // Slashes only stand in strings: sent as \/ they mean the same, and the payload is parsed whole.
        const [lifted, whole] = [text, text.replaceAll('/', '\\/')].map((sent) => {
          const decoded = decodeUplink(bytes(sent));
          if (!decoded.ok) throw new Error(decoded.detail);
          return eventsFromUplink('sn', decoded.msg, 0, { forward: 'all', images: 'inline' }).map(({ id, fields, image }) => ({
            id,
            fields,
            image: image && Buffer.from(image).toString(),
          }));
        });
        expect(lifted).toEqual(whole);
        expect(lifted.map(({ image }) => image)).toEqual(data.map(({ liveImageBase64 }) => liveImageBase64 || undefined));
      }),
      { numRuns: 1000 },
    );
  });

  it('refuses records whose fields have the wrong types', () => {
    const wrong = fc.oneof(
      fc.record({ verifiedCode: fc.oneof(fc.string(), fc.boolean(), fc.array(fc.integer())) }),
      fc.record({ name: fc.oneof(fc.integer(), fc.boolean(), fc.dictionary(fc.string(), fc.string())) }),
      fc.record({ num: fc.oneof(fc.boolean(), fc.array(fc.string())) }),
    );
    fc.assert(
      fc.property(wrong, (fields) => {
        const decoded = decodeUplink(bytes(JSON.stringify({ cmd: 'verifiedRecordU', data: [fields] })));
        expect(decoded).toMatchObject({ ok: false, reason: 'invalid_fields' });
      }),
      { numRuns: 1000 },
    );
  });

  it('does not let __proto__ or constructor keys reach any prototype', () => {
    fc.assert(
      fc.property(fc.constantFrom('__proto__', 'constructor', 'prototype'), fc.jsonValue({ maxDepth: 3 }), (key, value) => {
        const text = `{"cmd":"verifiedRecordU","data":[{"${key}":${JSON.stringify(value)},"verifiedCode":0}],"${key}":{"polluted":true}}`;
        decodeUplink(bytes(text));
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
        expect(Object.hasOwn(Object.prototype, 'polluted')).toBe(false);
      }),
      { numRuns: 500 },
    );
  });
});
