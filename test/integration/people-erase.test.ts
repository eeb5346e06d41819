import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import * as v from 'valibot';
import { afterEach, describe, expect, it } from 'vitest';
import { ErasedSchema } from '../../src/http/people.ts';
import { loadFixtures } from '../../src/kit/fixtures.ts';
import { stampJpeg } from '../../src/kit/jpeg.ts';
import { verifiedRecord, verifiedRecordU } from '../../src/kit/records.ts';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge, TOKEN } from '../support/bridge.ts';

// README §People on the terminals, ?erase=true on SQLite: no byte of what
// was erased is left in the database files (secure_delete, the WAL emptied)
// nor in the image segments (overwritten with zeros).
// Apart from people.test.ts, which runs on PostgreSQL too, where the files
// are the server's (README §PostgreSQL says what erasure leaves there).

let bridge: TestBridge | undefined;
let terminals: Terminal[] = [];

afterEach(async () => {
  await Promise.all(terminals.map((t) => t.stop(0)));
  terminals = [];
  await bridge?.stop();
  bridge = undefined;
});

const [face] = await loadFixtures();

/** A terminal that answers every person command with code 0, and keeps each one it got. */
function answering(t: Terminal) {
  const got: Record<string, any>[] = [];
  t.onMessage(({ cmd, body }) => {
    if (!cmd || !body || !['addPersonD', 'deletePersonD'].includes(cmd)) return;
    got.push(body);
    void t.send({ cmd: `${cmd.slice(0, -1)}U`, num: body.num, code: 0 });
  });
  return got;
}

/** A terminal that is online: connected, subscribed, its first message stored as device.online. */
async function online(b: TestBridge, url: string, sn: string) {
  const t = await connectTerminal(url, sn);
  terminals.push(t);
  const came = b.eventsStored(1, (e) => e.type === 'device.online' && e.deviceSn === sn);
  await t.send({ cmd: 'heartU' });
  await came;
  return t;
}

describe('?erase=true on SQLite', () => {
  it('erases the events, images, pending deliveries, commands and photo of a person, counted, and leaves no byte of them in the database files or the image segments', async () => {
    // A receiver that refuses connections: the record's delivery stays pending.
    bridge = await startBridge({ WEBHOOK_URL: 'http://127.0.0.1:9/hook' });
    const b = bridge;
    const t = await online(b, b.brokerUrl, 'E1');
    const got = answering(t);
    const image = stampJpeg(face, 'erase-record-image').toString('base64');
    await t.send(verifiedRecordU([verifiedRecord({ num: '6001', name: 'Erased', liveImageBase64: image })]));
    const kept = stampJpeg(face, 'kept').toString('base64');
    await t.send(verifiedRecordU([verifiedRecord({ num: '6002', name: 'Kept', liveImageBase64: kept })]));
    await b.eventsStored(2, (e) => e.type === 'face.verified');
    // An earlier photo, replaced: its bytes must go too.
    const earlier = stampJpeg(face, 'erase-earlier-photo');
    await b.api('PUT', '/api/people/6001', { name: 'Erased', photo: earlier.toString('base64') });
    await b.eventsStored(1, (e) => e.type === 'person.synced');
    const enrolled = stampJpeg(face, 'erase-enrolment-photo');
    await b.api('PUT', '/api/people/6001', { name: 'Erased', photo: enrolled.toString('base64') });
    await b.eventsStored(2, (e) => e.type === 'person.synced');

    const erased = await b.api('DELETE', '/api/people/6001?erase=true');
    expect(erased.status).toBe(200);
    v.parse(ErasedSchema, erased.json);
    // face.verified, the replies to the two enrolments (command.replied) and their person.synced; one image; the record's pending delivery.
    expect(erased.json).toEqual({ num: '6001', erased: { events: 5, images: 1, deliveries: 1, photo: 1, terminals: 1 } });
    expect((await b.api('GET', '/api/people/6001')).status).toBe(404);
    expect(b.count('commands', 'person = ? and cmd = ?', '6001', 'addPersonD')).toBe(0);
    expect(b.count('events', "type = 'face.verified'")).toBe(1);
    // The removal still goes out, carrying num alone.
    await until(() => got.some((c) => c.cmd === 'deletePersonD'));
    expect(got.at(-1)).toEqual({ cmd: 'deletePersonD', num: '6001' });

    const segments = readdirSync(join(b.dataDir, 'images')).map((name) => join('images', name));
    const files = [...readdirSync(b.dataDir).filter((name) => name.startsWith('facegate.db')), ...segments];
    expect(files).toContain('facegate.db');
    const runs = [
      enrolled.subarray(2000, 2064),
      Buffer.from(enrolled.toString('base64').slice(3000, 3064)),
      earlier.subarray(2000, 2064),
      Buffer.from(image.slice(3000, 3064)),
    ];
    for (const name of files) {
      const bytes = readFileSync(join(b.dataDir, name));
      for (const run of runs) expect(bytes.includes(run), `${name} holds erased bytes`).toBe(false);
    }
    // The other person's image is still there, and the scan finds it.
    expect(segments.some((name) => readFileSync(join(b.dataDir, name)).includes(kept.slice(3000, 3064)))).toBe(true);
    const [other] = (await b.api('GET', '/api/events?type=face.verified')).json.items;
    const served = await fetch(`http://127.0.0.1:${b.httpPort}/api/events/${other.id}/image`, { headers: { authorization: `Bearer ${TOKEN}` } });
    expect(Buffer.from(await served.arrayBuffer()).equals(Buffer.from(kept, 'base64'))).toBe(true);
  });
});
