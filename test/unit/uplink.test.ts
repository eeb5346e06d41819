import { afterEach, describe, expect, it } from 'vitest';
import { decodeUplink, isHeartbeat } from '../../src/protocol/uplink.ts';
import { runModuleScript } from '../support/module-script.ts';

const bytes = (text: string) => new TextEncoder().encode(text);
const decode = (value: unknown) => decodeUplink(bytes(JSON.stringify(value)));

const record = (over: Record<string, unknown> = {}) => ({
  num: '1001',
  name: 'Zhang San',
  liveImageBase64: '/9j/4AAQSkZJRgABAQ',
  verifiedCode: 0,
  time: '2026-11-22 09:59:58',
  personType: '1',
  ...over,
});

/** What decodeUplink gives beside the records: each one's fields without its image, as JSON. */
const fieldsOf = (...records: Record<string, unknown>[]) => records.map(({ liveImageBase64: _image, ...rest }) => JSON.stringify(rest));

/**
 * What decodeUplink gives for a message of these records (sent without
 * escapes): each record without its image, the image apart as bytes (its
 * text and its JSON string content alike), the fields as JSON.
 */
const decodedAs = (cmd: string, records: Record<string, unknown>[], malformed: { record: unknown; detail: string }[] = []) => ({
  ok: true,
  msg: {
    cmd,
    records: records.map(({ liveImageBase64: _image, ...rest }) => rest),
    images: records.map(({ liveImageBase64: image }) => (typeof image === 'string' ? { text: Buffer.from(image), content: Buffer.from(image) } : undefined)),
    fields: fieldsOf(...records),
    malformed,
  },
});

describe('decodeUplink', () => {
  describe('well-formed messages', () => {
    it('decodes heartU to a bare heartbeat, ignoring other fields', () => {
      expect(decode({ cmd: 'heartU', sn: '123', extra: [1] })).toEqual({ ok: true, msg: { cmd: 'heartU' } });
    });

    it('decodes verifiedRecordU with its record', () => {
      expect(decode({ cmd: 'verifiedRecordU', data: [record()] })).toEqual(decodedAs('verifiedRecordU', [record()]));
    });

    it('keeps every record of a batch, in order', () => {
      const batch = [record({ num: '1' }), record({ num: '2', verifiedCode: 3 }), record({ num: '3' })];
      const decoded = decode({ cmd: 'verifiedRecordU', data: batch });
      expect(decoded).toEqual(decodedAs('verifiedRecordU', batch));
    });

    it('decodes strangerRecordU records without a person id', () => {
      const stranger = { liveImageBase64: '/9j/xyz', time: '2026-11-22 09:59:58' };
      expect(decode({ cmd: 'strangerRecordU', data: [stranger] })).toEqual(decodedAs('strangerRecordU', [stranger]));
      expect(decodedAs('strangerRecordU', [stranger]).msg.fields).toEqual(['{"time":"2026-11-22 09:59:58"}']);
    });

    it('accepts personType as the string "1" or the number 1', () => {
      expect(decode({ cmd: 'verifiedRecordU', data: [record({ personType: '1' })] }).ok).toBe(true);
      expect(decode({ cmd: 'verifiedRecordU', data: [record({ personType: 1 })] }).ok).toBe(true);
    });

    it('keeps the values as sent, with no type coercion', () => {
      const sent = record({ num: 1001, personType: 1, temperature: 36.5 });
      const decoded = decode({ cmd: 'verifiedRecordU', data: [sent] });
      expect(decoded).toEqual(decodedAs('verifiedRecordU', [sent]));
    });

    it('refuses JSON nested more than 64 levels deep, and takes 64', () => {
      const nested = (levels: number) => bytes(`{"cmd":"x","a":${'['.repeat(levels - 1)}${']'.repeat(levels - 1)}}`);
      expect(decodeUplink(nested(64)).ok).toBe(true);
      expect(decodeUplink(nested(65))).toMatchObject({ ok: false, reason: 'too_deep' });
      expect(decodeUplink(nested(20_000))).toMatchObject({ ok: false, reason: 'too_deep' });
    });

    it('gives an image sent with escapes as its text and as JSON string content, escaped again only where JSON must', () => {
      const escapedSlash = bytes('{"cmd":"verifiedRecordU","data":[{"liveImageBase64":"\\/9j\\/4A"}]}');
      expect(decodeUplink(escapedSlash)).toEqual(decodedAs('verifiedRecordU', [{ liveImageBase64: '/9j/4A' }]));
      const quoted = bytes('{"cmd":"verifiedRecordU","data":[{"liveImageBase64":"say \\"cheese\\"\\u0041"}]}');
      const decoded = decodeUplink(quoted);
      if (!decoded.ok || !('images' in decoded.msg)) throw new Error('refused');
      expect(decoded.msg.images[0]).toEqual({ text: Buffer.from('say "cheese"A'), content: Buffer.from('say \\"cheese\\"A') });
    });

    it('lifts images out of a payload without escapes, and decodes whatever else holds their key whole', () => {
      const sent = (text: string) => decodeUplink(bytes(text));
      // A view of the payload's own bytes, not a copy.
      const payload = bytes(JSON.stringify({ cmd: 'verifiedRecordU', data: [record()] }));
      const decoded = decodeUplink(payload);
      expect(decoded.ok && 'images' in decoded.msg && decoded.msg.images[0]?.content.buffer).toBe(payload.buffer);
      // Spaces around the colon, two records, an empty image.
      expect(sent('{"cmd":"strangerRecordU","data":[{"liveImageBase64" : "AAA/"},{"time":"t","liveImageBase64":""}]}')).toEqual(
        decodedAs('strangerRecordU', [{ liveImageBase64: 'AAA/' }, { time: 't', liveImageBase64: '' }]),
      );
      // The key's text as a value, an image key outside the records, one in a nested object: each stays as sent.
      expect(sent('{"cmd":"strangerRecordU","data":[{"liveImageBase64":"AB","name":"liveImageBase64"}]}')).toEqual(
        decodedAs('strangerRecordU', [{ liveImageBase64: 'AB', name: 'liveImageBase64' }]),
      );
      expect(sent('{"cmd":"verifiedRecordU","liveImageBase64":"top","data":[{"liveImageBase64":"AB"}]}')).toEqual(
        decodedAs('verifiedRecordU', [{ liveImageBase64: 'AB' }]),
      );
      const nested = { liveImageBase64: 'AB', extra: { liveImageBase64: 'CD' } };
      expect(sent(JSON.stringify({ cmd: 'verifiedRecordU', data: [nested] }))).toEqual(decodedAs('verifiedRecordU', [nested]));
      expect(sent('{"cmd":"photoU","liveImageBase64":"AB"}')).toEqual({ ok: true, msg: { cmd: 'photoU', body: { cmd: 'photoU', liveImageBase64: 'AB' } } });
      // The same key twice in a record: the last one counts, as JSON.parse has it.
      expect(sent('{"cmd":"strangerRecordU","data":[{"liveImageBase64":"AB","liveImageBase64":"CD"}]}')).toEqual(
        decodedAs('strangerRecordU', [{ liveImageBase64: 'CD' }]),
      );
    });

    it('refuses an image that JSON would refuse, lifted or not', () => {
      // A raw control character in a string: JSON takes it only escaped.
      for (const control of ['\u0000', '\u0001', '\n', '\u001f']) {
        const text = `{"cmd":"strangerRecordU","data":[{"liveImageBase64":"/9j/4AAQ${control}SkZJ"}]}`;
        expect(decodeUplink(bytes(text))).toMatchObject({ ok: false, reason: 'not_json' });
      }
      // At every place of an image of every length up to a few groups: the check goes sixteen bytes at a time, and byte by byte before and after.
      for (let length = 1; length < 60; length++) {
        for (let at = 0; at < length; at++) {
          const image = Buffer.alloc(length, 'A');
          image[at] = 0x1f;
          const text = `{"cmd":"strangerRecordU","data":[{"liveImageBase64":"${image.toString('latin1')}"}]}`;
          expect(decodeUplink(bytes(text))).toMatchObject({ ok: false, reason: 'not_json' });
          expect(decodeUplink(bytes(text.replace('\u001f', '\u007f')))).toMatchObject({ ok: true });
        }
      }
      const invalid = Buffer.concat([bytes('{"cmd":"strangerRecordU","data":[{"liveImageBase64":"AB'), Uint8Array.of(0xff), bytes('"}]}')]);
      expect(decodeUplink(invalid)).toMatchObject({ ok: false, reason: 'not_utf8' });
      expect(decodeUplink(bytes('{"cmd":"strangerRecordU","data":[{"liveImageBase64":"AB}]}'))).toMatchObject({ ok: false, reason: 'not_json' });
    });

    it('keeps the image check compiled through images of every alignment and length', () => {
      // The writer thread's payloads lie at any offset of its shared region.
      // First images on a 4-byte boundary and of a length of whole words, as
      // a bench's are, then of every alignment and length. V8 compiles the
      // check's loop while an image is looked at; before the loop was a
      // function of its own, an image ending off a boundary threw that code
      // away at each image after it (821-1,110 times here; README §Performance,
      // Compiled once, read once). Counted by V8's own trace.
      const script = `
        const { liftImages } = await import(${JSON.stringify(new URL('../../src/protocol/lifted-images.ts', import.meta.url).href)});
        const region = Buffer.from(new SharedArrayBuffer(1 << 20));
        const payload = (at, length) => {
          const head = '{"cmd":"strangerRecordU","data":[{"liveImageBase64":"';
          const end = at + region.write(head, at, 'latin1');
          region.fill(0x41, end, end + length);
          return region.subarray(at, end + length + region.write('"}]}', end + length, 'latin1'));
        };
        let lifted = 0;
        for (let k = 0; k < 300; k++) lifted += liftImages(payload(3, 36000)) ? 1 : 0;
        for (let k = 0; k < 2000; k++) lifted += liftImages(payload(k % 64, 36000 + (k % 4))) ? 1 : 0;
        console.log('lifted', lifted);
      `;
      const run = runModuleScript(script, ['--trace-deopt']);
      expect(run.stdout).toContain('lifted 2300');
      const dropped = run.stdout.split('\n').filter((line) => line.includes('bailout') && /hasControl|controlWords/.test(line));
      expect(dropped).toEqual([]);
    });

    it('keeps an unknown cmd as a device message with its whole body', () => {
      const body = { cmd: 'openDoorResultU', result: 0, detail: { door: 1 } };
      expect(decode(body)).toEqual({ ok: true, msg: { cmd: 'openDoorResultU', body } });
    });

    it('does not check fields of an unknown cmd', () => {
      const body = { cmd: 'somethingU', data: 'not an array' };
      expect(decode(body)).toEqual({ ok: true, msg: { cmd: 'somethingU', body } });
    });
  });

  describe('malformed messages', () => {
    it('rejects invalid UTF-8 as not_utf8', () => {
      const decoded = decodeUplink(Uint8Array.of(0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d));
      expect(decoded).toMatchObject({ ok: false, reason: 'not_utf8' });
    });

    it.each(['', '{', '{"cmd":"heartU",}', 'heartU', "{'cmd':'heartU'}"])('rejects %j as not_json', (text) => {
      expect(decodeUplink(bytes(text))).toMatchObject({ ok: false, reason: 'not_json' });
    });

    it.each(['42', '[{"cmd":"heartU"}]', 'null', '"heartU"', 'true'])('rejects %s as not_object', (text) => {
      expect(decodeUplink(bytes(text))).toMatchObject({ ok: false, reason: 'not_object' });
    });

    it.each([
      ['no cmd', {}],
      ['an empty cmd', { cmd: '' }],
      ['a numeric cmd', { cmd: 3 }],
      ['a null cmd', { cmd: null }],
      ['an object cmd', { cmd: { name: 'heartU' } }],
    ])('rejects %s as no_cmd', (_label, value) => {
      expect(decode(value)).toMatchObject({ ok: false, reason: 'no_cmd' });
    });

    it.each([
      ['verifiedCode as a string', { cmd: 'verifiedRecordU', data: [record({ verifiedCode: '0' })] }, 'data.0.verifiedCode'],
      ['data not an array', { cmd: 'verifiedRecordU', data: { 0: record() } }, 'data'],
      ['data missing', { cmd: 'verifiedRecordU' }, 'data'],
      ['empty data', { cmd: 'strangerRecordU', data: [] }, 'data'],
      ['a record that is not an object', { cmd: 'verifiedRecordU', data: ['x'] }, 'data.0'],
      ['a null record', { cmd: 'verifiedRecordU', data: [null] }, 'data.0'],
      ['a record that is an array', { cmd: 'verifiedRecordU', data: [['1001', 'Zhang San']] }, 'data.0'],
      ['two bad records (the first is named)', { cmd: 'verifiedRecordU', data: [record({ num: null }), record({ name: 5 })] }, 'data.0.num'],
      ['personType as a boolean', { cmd: 'verifiedRecordU', data: [record({ personType: true })] }, 'data.0.personType'],
      ['an image that is not a string', { cmd: 'strangerRecordU', data: [{ liveImageBase64: 1 }] }, 'data.0.liveImageBase64'],
    ])('rejects %s as invalid_fields naming the path', (_label, value, path) => {
      const decoded = decode(value);
      expect(decoded).toMatchObject({ ok: false, reason: 'invalid_fields' });
      if (decoded.ok) return;
      expect(decoded.detail.startsWith(`${path}:`)).toBe(true);
    });

    it('keeps the good records of a batch and says what is wrong with each other one', () => {
      const bad = [record({ name: 5 }), 'x'];
      const decoded = decode({ cmd: 'verifiedRecordU', data: [record({ num: '1' }), bad[0], record({ num: '3' }), bad[1]] });
      expect(decoded).toEqual(
        decodedAs(
          'verifiedRecordU',
          [record({ num: '1' }), record({ num: '3' })],
          [
            { record: bad[0], detail: 'data.1.name: name must be a string' },
            { record: 'x', detail: 'data.3: each record must be an object' },
          ],
        ),
      );
    });

    it('refuses more records than MAX_RECORDS as too_many_records, counted before any record is looked at', () => {
      const batch = (count: number, item: unknown, cmd = 'strangerRecordU') => bytes(JSON.stringify({ cmd, data: Array(count).fill(item) }));
      expect(decodeUplink(batch(3, record(), 'verifiedRecordU'), { maxRecords: 2 })).toEqual({
        ok: false,
        reason: 'too_many_records',
        detail: 'data holds 3 records, over MAX_RECORDS (2)',
      });
      // None of these is a record, and each nests too deep: the count alone answers.
      const deep = JSON.parse(`${'['.repeat(70)}${']'.repeat(70)}`);
      expect(decodeUplink(batch(3, deep), { maxRecords: 2 })).toMatchObject({ ok: false, reason: 'too_many_records' });
      expect(decodeUplink(batch(1001, 0))).toMatchObject({ ok: false, reason: 'too_many_records', detail: 'data holds 1001 records, over MAX_RECORDS (1000)' });
      expect(decodeUplink(batch(1000, record()))).toMatchObject({ ok: true });
    });

    it('leaves the data of other commands uncounted', () => {
      expect(decode({ cmd: 'listPersonsU', data: Array(2000).fill(1) })).toMatchObject({ ok: true });
    });

    it('refuses a record whose fields other than its image take more than 64 KB of JSON, and keeps the others', () => {
      // Three-byte characters: the limit is in bytes of UTF-8, not in characters.
      const withName = (bytes: number) => {
        const base = Buffer.byteLength(fieldsOf(record({ name: '' }))[0]);
        const fill = bytes - base;
        return record({ name: '中'.repeat(Math.floor(fill / 3)) + 'x'.repeat(fill % 3), liveImageBase64: 'A'.repeat(2 ** 20) });
      };
      const [fits, over] = [withName(65_536), withName(65_537)];
      const decoded = decode({ cmd: 'verifiedRecordU', data: [fits, over] });
      expect(decoded).toEqual(
        decodedAs(
          'verifiedRecordU',
          [fits],
          [{ record: over, detail: 'data.1: the fields other than liveImageBase64 take 65537 bytes as JSON, over the limit of 65536' }],
        ),
      );
      expect(decode({ cmd: 'strangerRecordU', data: [over] })).toMatchObject({ ok: false, reason: 'invalid_fields' });
    });

    it('explains an empty data array', () => {
      const decoded = decode({ cmd: 'verifiedRecordU', data: [] });
      expect(decoded).toMatchObject({ ok: false, detail: expect.stringMatching(/at least one record/) });
    });
  });

  describe('__proto__ in a payload', () => {
    afterEach(() => {
      delete (Object.prototype as Record<string, unknown>).polluted;
    });

    it('does not pollute Object.prototype from the top level', () => {
      const decoded = decodeUplink(bytes('{"cmd":"replyU","__proto__":{"polluted":"yes"}}'));
      expect(decoded.ok).toBe(true);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    });

    it('does not pollute Object.prototype from inside a record', () => {
      const text = '{"cmd":"verifiedRecordU","__proto__":{"polluted":"yes"},"data":[{"__proto__":{"polluted":"yes"},"time":"t"}]}';
      const decoded = decodeUplink(bytes(text));
      expect(decoded.ok).toBe(true);
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(Object.prototype).not.toHaveProperty('polluted');
    });
  });

  it('never throws, whatever the bytes', () => {
    const samples = [Uint8Array.of(0), Uint8Array.of(0xc3), new Uint8Array(0), bytes('1e999'), bytes('{"cmd":"strangerRecordU","data":[1,"x"]}')];
    for (const sample of samples) expect(decodeUplink(sample).ok).toBe(false);
  });

  it('accepts a Buffer', () => {
    expect(decodeUplink(Buffer.from('{"cmd":"heartU"}'))).toEqual({ ok: true, msg: { cmd: 'heartU' } });
  });
});

describe('isHeartbeat', () => {
  it('is true for heartU', () => {
    expect(isHeartbeat(bytes('{"cmd":"heartU"}'))).toBe(true);
  });

  it('is true for heartU with other fields', () => {
    expect(isHeartbeat(bytes('{"cmd":"heartU","sn":"123456789","ip":"10.0.0.5"}'))).toBe(true);
  });

  it.each([
    ['a record', JSON.stringify({ cmd: 'verifiedRecordU', data: [record()] })],
    ['another cmd', '{"cmd":"heartD"}'],
    ['garbage', 'not json'],
    ['an empty payload', ''],
  ])('is false for %s', (_label, text) => {
    expect(isHeartbeat(bytes(text))).toBe(false);
  });

  it('recognises a heartbeat with extra fields up to 4 KB', () => {
    const beat = bytes(JSON.stringify({ cmd: 'heartU', pad: 'x'.repeat(4096 - 25) }));
    expect(beat.length).toBe(4096);
    expect(isHeartbeat(beat)).toBe(true);
  });

  it('knows a heartbeat it saw by its bytes, and nothing else by them: the next payload is decoded as ever', () => {
    const beat = bytes('{"cmd":"heartU","sn":"T1"}');
    expect(isHeartbeat(beat)).toBe(true);
    // The remembered bytes are a copy: the buffer the payload came in may be reused.
    beat.set(bytes('{"cmd":"heartX"'));
    expect(isHeartbeat(beat)).toBe(false);
    expect(isHeartbeat(bytes('{"cmd":"heartU","sn":"T1"}'))).toBe(true);
    // As long, one byte apart, or cut short: decoded, and not heartbeats.
    expect(isHeartbeat(bytes('{"cmd":"heartU","sn":"T1"]'))).toBe(false);
    expect(isHeartbeat(bytes('{"cmd":"heartU","sn":"T1"'))).toBe(false);
    expect(isHeartbeat(bytes('{"cmd":"heartU","sn":"T1"}'))).toBe(true);
  });

  it('leaves payloads over 4 KB, and those that never mention heartU, to the writer', () => {
    expect(isHeartbeat(bytes(JSON.stringify({ cmd: 'heartU', pad: 'x'.repeat(4096 - 24) })))).toBe(false);
    expect(isHeartbeat(bytes(JSON.stringify({ cmd: 'verifiedRecordU', data: [{ name: 'x' }] })))).toBe(false);
  });
});
