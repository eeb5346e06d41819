import { randomBytes } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { MqttClient } from 'mqtt';
import { encodeLoadRecord } from '../../kit/records.ts';
import { serials, UPLINK } from '../../kit/terminal.ts';
import { until, withTimeout } from '../../kit/wait.ts';
import { monotonicMs } from '../measures/clock.ts';
import { connectAll } from './burst.ts';

export interface PacedOptions {
  url: string;
  terminals: number;
  /** Records a second, all terminals together. */
  rate: number;
  seconds: number;
  /** Sent with every record, stamped so that no two are the same. */
  image: Buffer;
}

export interface PacedLoad {
  records: number;
  acked: number;
  failed: number;
  /** publishedAt[i]: monotonic ms (clock.ts) when record i (of a numbered load, kit/records.ts) was handed to its connection. */
  publishedAt: Float64Array;
  /** How far behind its schedule a record was sent at worst: large values mean the load was not the one asked for. */
  maxSendLagMs: number;
}

/** After the last publish, PUBACKs still missing are counted as failed after this long. */
const ACK_GRACE_MS = 15_000;

/**
 * Connects the terminals; `run` then publishes rate × seconds records at
 * QoS 1, one every 1/rate s, terminal by terminal in turn, from `startAt`
 * (monotonic ms) on, so the caller can time other things (an outage) from
 * the same moment. Payloads are built one at a time ahead of their slot: a
 * long run's would not fit in memory, and building one is far quicker than
 * the gap between two.
 */
export async function connectPaced(options: PacedOptions) {
  const sns = serials('DL', options.terminals);
  const clients: MqttClient[] = await connectAll(options.url, sns);
  const topics = sns.map((sn) => UPLINK.topicOf(sn));
  let closed = false;
  const close = async () => {
    // A run still under way (its caller failed) stops at its next record.
    closed = true;
    await Promise.allSettled(clients.map((client) => withTimeout(client.endAsync(true), 5000, 'disconnecting')));
  };

  async function run(startAt: number): Promise<PacedLoad> {
    const records = Math.round(options.rate * options.seconds);
    const gapMs = 1000 / options.rate;
    const publishedAt = new Float64Array(records);
    const runId = randomBytes(4).toString('hex');
    let acked = 0;
    let failed = 0;
    let maxSendLagMs = 0;
    const onAck = (err?: Error) => (err ? failed++ : acked++);
    for (let i = 0; i < records && !closed; i++) {
      const payload = encodeLoadRecord(i, new Date(), { jpeg: options.image, label: `facegate bench ${runId}` });
      const due = startAt + i * gapMs;
      const wait = due - monotonicMs();
      if (wait >= 1) await delay(wait);
      if (closed) break;
      const now = monotonicMs();
      maxSendLagMs = Math.max(maxSendLagMs, now - due);
      publishedAt[i] = now;
      clients[i % clients.length].publish(topics[i % clients.length], payload, { qos: 1 }, onAck);
    }
    await until(() => acked + failed === records, 20, { ms: ACK_GRACE_MS, what: 'PUBACKs' }).catch(() => {});
    return { records, acked, failed: records - acked, publishedAt, maxSendLagMs };
  }

  return { run, close };
}
