import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, it } from 'vitest';
import { connectTerminal, type Terminal } from '../../src/kit/terminal.ts';
import { until } from '../../src/kit/wait.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// README §Commands with replies, a restart: commands as a crash leaves them
// (accepted, not published), written into the SQLite store while the bridge
// is down. Apart from command-replies.test.ts, which runs on PostgreSQL too.

let bridge: TestBridge | undefined;
let terminals: Terminal[] = [];

afterEach(async () => {
  await Promise.all(terminals.map((t) => t.stop(0)));
  terminals = [];
  await bridge?.stop();
  bridge = undefined;
});

/** A terminal that is online: connected, subscribed, its first message stored as device.online. */
async function online(b: TestBridge, url: string, sn: string) {
  const t = await connectTerminal(url, sn);
  terminals.push(t);
  const came = b.eventsStored(1, (e) => e.type === 'device.online' && e.deviceSn === sn);
  await t.send({ cmd: 'heartU' });
  await came;
  return t;
}

const command = async (b: TestBridge, id: string) => (await b.api('GET', `/api/commands/${id}`)).json;

describe('a restart', () => {
  it('fails a command left queued without a ttl (interrupted) and sends the one with a ttl', async () => {
    const first = await startBridge();
    await online(first, first.brokerUrl, 'R1');
    await first.stop({ keepData: true });
    bridge = undefined;
    terminals = [];
    // As a crash leaves them: accepted, not published yet.
    const db = new Database(join(first.dataDir, 'facegate.db'));
    const insert = db.prepare("insert into commands (id, seq, device_sn, cmd, body, status, created_at, expires_at) values (?, ?, 'R1', ?, ?, 'queued', ?, ?)");
    insert.run('cmd_plain', 1, 'openDoorD', '{"cmd":"openDoorD"}', Date.now(), null);
    insert.run('cmd_kept', 2, 'syncD', '{"cmd":"syncD"}', Date.now(), Date.now() + 3_600_000);
    db.close();

    const b = await startBridge({}, first.dataDir);
    bridge = b;
    expect(await command(b, 'cmd_plain')).toMatchObject({ status: 'failed', error: 'interrupted' });
    const t = await connectTerminal(b.brokerUrl, 'R1');
    terminals.push(t);
    await until(() => t.received.some((m) => m.cmd === 'syncD'));
    expect(t.received.map((m) => m.cmd)).toEqual(['syncD']);
    expect(b.logLines.some((line) => line.includes('"count":1') && line.includes('interrupted'))).toBe(true);
  });
});
