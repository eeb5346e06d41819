import { afterEach, describe, expect, it } from 'vitest';
import { startBridge, type TestBridge } from '../support/bridge.ts';
import { connectTerminal, type TestTerminal, verifiedRecord } from '../support/terminal.ts';

// Face records as an attacker (or a broken terminal) sends them: more records
// than any backlog, fields of megabytes, images under other keys, and a flood
// of garbage. Each must get a bounded answer that costs the bridge little
// and holds up no other terminal (README §Upstream messages, §Malformed messages).

let bridge: TestBridge | undefined;
let terminals: TestTerminal[] = [];

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

const rows = (sql: string, ...params: unknown[]) => bridge!.db().prepare(sql).all(...params) as any[];

/** A second terminal's ordinary records, sent while the attack is under way: each is acknowledged and stored. */
function ordinaryRecords(t: TestTerminal, count: number) {
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
