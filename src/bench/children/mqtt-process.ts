import type { Socket } from 'node:net';
import mqtt from 'mqtt';
import { DOWNLINK, UPLINK } from '../../kit/terminal.ts';
import { monotonicMs } from '../measures/clock.ts';
import { exitWithParent } from './child.ts';

// The other end of the relay and echo ceilings, in a process of its own as
// the bridge is (in the benchmark's process it would share an event loop
// with the load generator and measure both):
//   echo URL   answers every heartU on an upLink with a heartD and does nothing else
//   sink URL   subscribes to every upLink at QoS 1 and only counts the records that arrive
// What the bridge adds to these is the bridge's own cost.

exitWithParent();

const [mode, url] = process.argv.slice(2);
if (mode !== 'echo' && mode !== 'sink') throw new Error(`mqtt-process: unknown mode ${mode}`);

const HEARTD = JSON.stringify({ cmd: 'heartD', time: '1970-01-01 00:00:00' });
const HEARTU = Buffer.from('"heartU"');
/** No record is this small (one without an image is ~130 bytes): a heartU is ~16, the echo's heartD ~45. */
const HEARTBEAT_MAX_BYTES = 64;
/** How often the sink reports its count while it changes; ceilings.ts reads the last report. */
const REPORT_MS = 200;

const client = await mqtt.connectAsync(url, { clientId: `facegate-bench-${mode}-${process.pid}`, clean: true, keepalive: 30, connectTimeout: 10_000 });
// As the bridge's own client does (transport/external.ts): with Nagle, a heartD or a PUBACK would wait for the ACK of what went before.
(client.stream as Socket).setNoDelay?.(true);
if (mode === 'echo') {
  client.on('message', (topic, payload) => {
    const sn = UPLINK.serialOf(topic);
    if (sn !== undefined && payload.includes(HEARTU)) client.publish(DOWNLINK.topicOf(sn), HEARTD, { qos: 0 });
  });
  await client.subscribeAsync(UPLINK.wildcard, { qos: 0 });
} else {
  let received = 0;
  let lastAt = 0;
  let reported = 0;
  client.on('message', (_topic, payload) => {
    // The flood ceiling's terminals beat through the same broker, and the echo answers on their downLinks, which the
    // wildcard matches too: neither their heartbeats nor the answers are records, and both are tiny, unlike any record.
    if (payload.length <= HEARTBEAT_MAX_BYTES) return;
    received++;
    lastAt = monotonicMs();
  });
  setInterval(() => {
    if (received === reported) return;
    reported = received;
    process.stdout.write(`sink ${JSON.stringify({ received, lastAt })}\n`);
  }, REPORT_MS);
  await client.subscribeAsync(UPLINK.wildcard, { qos: 1 });
}
// ceilings.ts waits for this line.
process.stdout.write(`${mode} ready\n`);
