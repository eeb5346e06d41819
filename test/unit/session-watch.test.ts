import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/lib/log.ts';
import { createSessionWatch } from '../../src/transport/session-watch.ts';

function watch() {
  let t = 0;
  const lines: string[] = [];
  const stream = new PassThrough();
  stream.on('data', (chunk: Buffer) => lines.push(chunk.toString()));
  const w = createSessionWatch({ clientId: 'bridge-1', log: createLogger('info', stream), now: () => t });
  const connection = (lastedMs: number, reasonCode?: number) => {
    w.connected();
    t += lastedMs;
    if (reasonCode !== undefined) w.disconnected(reasonCode);
    return w.closed();
  };
  return { connection, lines, failedAttempt: () => w.closed() };
}

describe('createSessionWatch', () => {
  it('takes three connections in a row that the broker ends within seconds as another client with the same id', () => {
    const w = watch();
    expect([w.connection(200), w.connection(300)]).toEqual([0, 0]);
    expect(w.lines).toHaveLength(0);
    expect(w.connection(100)).toBe(3);
    expect(w.lines.join('')).toContain('another client uses MQTT_CLIENT_ID=bridge-1');
  });

  it('forgets short connections once one lasts, and is not fooled by attempts that never connected', () => {
    const w = watch();
    w.connection(200);
    w.connection(200);
    expect(w.connection(60_000)).toBe(0);
    expect([w.failedAttempt(), w.failedAttempt(), w.failedAttempt()]).toEqual([0, 0, 0]);
    expect(w.lines).toHaveLength(0);
  });

  it('believes the broker at once when it says the session was taken over (reason 0x8E)', () => {
    const w = watch();
    expect(w.connection(3_600_000, 0x8e)).toBe(3);
    expect(w.lines).toHaveLength(1);
  });

  it('says it at most once a minute', () => {
    const w = watch();
    for (let i = 0; i < 10; i++) w.connection(1000);
    expect(w.lines).toHaveLength(1);
  });
});
