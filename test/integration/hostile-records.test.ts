import { afterEach, describe, expect, it } from 'vitest';
import { verifiedRecord } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// Face records as an attacker (or a broken terminal) sends them: more records
// than any backlog, fields of megabytes, images under other keys, and a flood
// of garbage. Each must get a bounded answer that costs the bridge little
// and holds up no other terminal (README §Upstream messages, §Malformed messages).

let bridge: TestBridge | undefined;
let terminals: Terminal[] = [];

afterEach(async () => {
  await Promise.all(terminals.map((t) => t.client.endAsync(true)));
  terminals = [];
  await bridge?.stop();
  bridge = undefined;
});

async function terminal(b: TestBridge, sn: string) {
  const t = await connectTerminal(b.brokerUrl, sn);
  terminals.push(t);
  return t;
}

const rows = (sql: string, ...params: unknown[]) =>
  bridge!
    .db()
    .prepare(sql)
    .all(...params) as any[];

/** A second terminal's ordinary records, sent while the attack is under way: each is acknowledged and stored. */
function ordinaryRecords(t: Terminal, count: number) {
  return Promise.all(Array.from({ length: count }, (_, i) => t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: `ok${i}` })] })));
}

describe('more records than MAX_RECORDS', () => {
  it('answers an 8 MB strangerRecordU of 600,000 tiny records with one too_many_records reject, while another terminal is served', async () => {
    const b = (bridge = await startBridge());
    const [attacker, other] = [await terminal(b, 'MANY1'), await terminal(b, 'OTHER1')];
    // {"n":100000}, is 13 bytes: 600,000 records, each of its own, make a payload just under 8 MB.
    const payload = `{"cmd":"strangerRecordU","data":[${Array.from({ length: 600_000 }, (_, i) => `{"n":${100_000 + i}}`).join(',')}]}`;
    expect(payload.length).toBeLessThan(b.config.MAX_PAYLOAD);
    // Both resolve on their PUBACKs.
    await Promise.all([attacker.send(payload), ordinaryRecords(other, 20)]);

    expect(rows('select reason, detail, device_sn, size from rejects')).toEqual([
      { reason: 'too_many_records', detail: 'data holds 600000 records, over MAX_RECORDS (1000)', device_sn: 'MANY1', size: payload.length },
    ]);
    expect(b.count('events', "device_sn = 'MANY1' and type like 'face.%'")).toBe(0);
    expect(b.count('events', "device_sn = 'OTHER1' and type = 'face.verified'")).toBe(20);
    expect(await b.metric('facegate_messages_rejected_total')).toContain('reason="too_many_records"} 1');
  });

  it('takes a batch of exactly MAX_RECORDS', async () => {
    const b = (bridge = await startBridge({ MAX_RECORDS: '50' }));
    const t = await terminal(b, 'FIFTY1');
    await t.send({ cmd: 'verifiedRecordU', data: Array.from({ length: 50 }, (_, i) => verifiedRecord({ num: `p${i}` })) });
    await t.send({ cmd: 'verifiedRecordU', data: Array.from({ length: 51 }, (_, i) => verifiedRecord({ num: `q${i}` })) });
    expect(b.count('events', "type = 'face.verified'")).toBe(50);
    expect(rows('select reason, detail from rejects')).toEqual([{ reason: 'too_many_records', detail: 'data holds 51 records, over MAX_RECORDS (50)' }]);
  });

  it('answers 4 million zeros with one reject, without the bridge ballooning, while another terminal is served', async () => {
    const b = (bridge = await startBridge());
    const [attacker, other] = [await terminal(b, 'ZERO1'), await terminal(b, 'OTHER2')];
    const payload = Buffer.from(`{"cmd":"strangerRecordU","data":[${'0,'.repeat(4_000_000 - 1)}0]}`);
    const before = process.memoryUsage().rss;
    await Promise.all([attacker.send(payload), ordinaryRecords(other, 20)]);
    const grown = process.memoryUsage().rss - before;
    console.log(`hostile-records: 4 million zeros grew the test process (bridge included) by ${Math.round(grown / 2 ** 20)} MB`);

    expect(rows('select reason, device_sn from rejects')).toEqual([{ reason: 'too_many_records', device_sn: 'ZERO1' }]);
    expect(b.count('events', "device_sn = 'OTHER2' and type = 'face.verified'")).toBe(20);
    // A resource bound, generous: the payload itself is 8 MB.
    expect(grown).toBeLessThan(300 * 2 ** 20);
  });
});

describe('fields of a face record', () => {
  it('keeps a record whose fields take 7 MB as an invalid_fields reject and stores the others of its batch', async () => {
    const b = (bridge = await startBridge());
    const t = await terminal(b, 'NAME1');
    const huge = verifiedRecord({ num: '2', name: 'n'.repeat(7 * 2 ** 20) });
    await t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord({ num: '1' }), huge, verifiedRecord({ num: '3' })] });

    expect(rows("select fields from events where type = 'face.verified' order by seq").map((r) => JSON.parse(r.fields).num)).toEqual(['1', '3']);
    const fieldsBytes = JSON.stringify({ ...huge, liveImageBase64: undefined }).length;
    expect(rows('select reason, detail, length(sample) as kept from rejects')).toEqual([
      {
        reason: 'invalid_fields',
        detail: `data.1: the fields other than liveImageBase64 take ${fieldsBytes} bytes as JSON, over the limit of 65536`,
        kept: 2048,
      },
    ]);
  });

  it('takes fields of exactly 64 KB as UTF-8, and an image far larger; one byte more is too much', async () => {
    const b = (bridge = await startBridge());
    const t = await terminal(b, 'NAME2');
    const image = 'A'.repeat(2 ** 20);
    // Two-byte characters: the limit is in bytes, not in characters.
    const withName = (bytes: number) => {
      const name = 'é'.repeat(Math.floor(bytes / 2)) + 'x'.repeat(bytes % 2);
      return verifiedRecord({ name, liveImageBase64: image, time: 't0' });
    };
    const base = Buffer.byteLength(JSON.stringify({ ...verifiedRecord({ name: '', time: 't0' }), liveImageBase64: undefined }));
    const fits = withName(64 * 1024 - base);
    const over = withName(64 * 1024 - base + 1);
    await t.send({ cmd: 'verifiedRecordU', data: [fits, over] });
    expect(rows("select length(cast(fields as blob)) as bytes from events where type = 'face.verified'")).toEqual([{ bytes: 64 * 1024 }]);
    expect(rows('select reason, detail from rejects')).toEqual([
      { reason: 'invalid_fields', detail: 'data.1: the fields other than liveImageBase64 take 65537 bytes as JSON, over the limit of 65536' },
    ]);
  });
});

describe('IMAGES=omit', () => {
  it('leaves every image of a face record out of what is stored, and still knows a retransmission', async () => {
    const b = (bridge = await startBridge({ IMAGES: 'omit' }));
    const t = await terminal(b, 'OMIT1');
    const record = verifiedRecord({
      snapImageBase64: '/9j/second-image',
      photo: '/9j/third-image',
      extra: { facePhotoBase64: '/9j/nested-image', photoCount: 2 },
    });
    await t.send({ cmd: 'verifiedRecordU', data: [record] });
    await t.send({ cmd: 'verifiedRecordU', data: [record] });

    const stored = rows('select fields, has_image from events where type = ?', 'face.verified');
    expect(stored).toHaveLength(1);
    expect(JSON.parse(stored[0].fields)).toEqual({
      num: '1001',
      name: 'Zhang San',
      verifiedCode: 0,
      time: '2026-11-22 09:59:58',
      personType: '1',
      extra: { photoCount: 2 },
    });
    expect(stored[0].has_image).toBe(0);
    expect(b.count('images')).toBe(0);
  });
});

describe('a flood of malformed messages', () => {
  it('counts every one of 500 but keeps at most a burst of them (and one a second) as rows', async () => {
    const b = (bridge = await startBridge());
    const t = await terminal(b, 'FLOOD1');
    const since = performance.now();
    await Promise.all(Array.from({ length: 500 }, (_, i) => t.send(`garbage ${i}{`)));
    const seconds = (performance.now() - since) / 1000;
    const kept = b.count('rejects');
    console.log(`hostile-records: 500 malformed messages in ${seconds.toFixed(2)} s, ${kept} kept as rows`);

    expect(await b.metric('facegate_messages_rejected_total')).toContain('reason="not_json"} 500');
    // The bucket: a burst of 20, then one a second.
    expect(kept).toBeGreaterThanOrEqual(20);
    expect(kept).toBeLessThanOrEqual(20 + Math.ceil(seconds));
    expect(await b.metric('facegate_rejects_not_kept_total')).toContain(`facegate_rejects_not_kept_total ${500 - kept}`);
    expect(b.logLines.filter((line) => line.includes('rejects not kept')).length).toBe(1);
  });

  it('gives serials the bridge does not know one bucket between them', async () => {
    const b = (bridge = await startBridge({ DEVICES: 'KNOWN1', DISCOVERY: 'false' }));
    const strangers = await Promise.all(Array.from({ length: 10 }, (_, i) => terminal(b, `STRANGER${i}`)));
    const since = performance.now();
    await Promise.all(strangers.flatMap((t) => Array.from({ length: 10 }, () => t.send({ cmd: 'verifiedRecordU', data: [verifiedRecord()] }))));
    const seconds = (performance.now() - since) / 1000;

    expect(await b.metric('facegate_messages_rejected_total')).toContain('reason="unknown_device"} 100');
    expect(b.count('rejects')).toBeLessThanOrEqual(20 + Math.ceil(seconds));
    // A known terminal's reject has a bucket of its own.
    const known = await terminal(b, 'KNOWN1');
    await known.send('not json');
    expect(b.count('rejects', "device_sn = 'KNOWN1'")).toBe(1);
  });
});
