import { describe, expect, it } from 'vitest';
import { type IngestPolicy, interpret, type Message } from '../../src/ingest/interpret.ts';

// The meaning of one upLink message (README §Upstream messages, §Malformed
// messages), as a pure function: what the store keeps and the main thread
// counts and answers all come from here.

const POLICY: IngestPolicy = { forward: 'passed', images: 'inline', maxRecords: 3, replyWindowMs: 30_000 };
const AT = Date.UTC(2026, 10, 22, 2, 0, 0);
const IMAGE = '/9j/4AAQSkZJRgABAQ';
const record = (over: Record<string, unknown> = {}) => ({
  num: '1001',
  name: 'Zhang San',
  liveImageBase64: IMAGE,
  verifiedCode: 0,
  time: '2026-11-22 09:59:58',
  personType: '1',
  ...over,
});
const message = (body: unknown): Message => ({
  sn: 'SN1',
  topic: 'fungxi_SN1_upLink',
  payload: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
  receivedAt: AT,
});

describe('interpret', () => {
  it('answers a heartbeat, stores nothing, and counts it as heartU', () => {
    expect(interpret(message({ cmd: 'heartU' }), POLICY)).toEqual({ cmd: 'heartU', heartbeat: true, events: [], rejects: [] });
  });

  it('makes each record of a batch an event, and a malformed one a reject of its own with the record', () => {
    const bad = record({ verifiedCode: 'zero' });
    const meaning = interpret(message({ cmd: 'verifiedRecordU', data: [record(), bad, record({ num: '1002', verifiedCode: 1 })] }), POLICY);
    expect(meaning.cmd).toBe('verifiedRecordU');
    expect(meaning.heartbeat).toBe(false);
    expect(meaning.events.map((e) => [e.type, e.deviceSn, e.receivedAt, e.image && Buffer.from(e.image).toString()])).toEqual([
      ['face.verified', 'SN1', AT, IMAGE],
      ['face.rejected', 'SN1', AT, IMAGE],
    ]);
    expect(meaning.rejects).toEqual([{ reason: 'invalid_fields', detail: 'data.1.verifiedCode: verifiedCode must be a number', record: bad }]);
  });

  it('rejects a message it cannot read with its payload, and gives it no cmd to count', () => {
    const payload = '{"cmd":"verifiedRecordU",';
    expect(interpret(message(payload), POLICY)).toEqual({
      heartbeat: false,
      events: [],
      rejects: [{ reason: 'not_json', detail: expect.any(String), payload: Buffer.from(payload), size: payload.length }],
    });
    expect(interpret(message({ cmd: 'strangerRecordU', data: [record(), record(), record(), record()] }), POLICY).rejects.map((r) => r.reason)).toEqual([
      'too_many_records',
    ]);
  });

  it('keeps anything else as one device message, with its cmd', () => {
    const meaning = interpret(message({ cmd: 'openDoorU', code: 0 }), POLICY);
    expect(meaning).toMatchObject({ cmd: 'openDoorU', heartbeat: false, rejects: [] });
    expect(meaning.events).toEqual([
      { id: expect.stringMatching(/^evt_/), type: 'device.message', deviceSn: 'SN1', receivedAt: AT, fields: '{"cmd":"openDoorU","code":0}' },
    ]);
  });

  it('gives the same record the same event id, whatever its key order, so a retransmission is stored once', () => {
    const [first] = interpret(message({ cmd: 'verifiedRecordU', data: [record()] }), POLICY).events;
    const reordered = Object.fromEntries(Object.entries(record()).reverse());
    const [again] = interpret(message({ cmd: 'verifiedRecordU', data: [reordered] }), POLICY).events;
    expect(again.id).toBe(first.id);
  });
});
