import type { Socket } from 'node:net';
import type { IPublishPacket, MqttClient } from 'mqtt';

/**
 * What the external transport (mqtt-session.ts, external.ts) takes from MQTT.js beyond its
 * documented API, one function per assumption. Each names the MQTT.js code
 * it relies on (build/lib/…, in the version package.json pins) and why the
 * bridge needs it; test/unit/mqttjs-internals.test.ts checks each against
 * the installed MQTT.js. Run it before raising the pin (README §Dependencies
 * and why).
 */

/** One connection to the broker: MQTT.js's `client.stream`, a socket for mqtt:// and mqtts://. */
export type Connection = MqttClient['stream'];

/** Told to handleMessage's callback: no PUBACK from MQTT.js, the bridge sends it after the commit. */
const NO_PUBACK = new Error('acknowledged after commit');

/**
 * Hands every PUBLISH to `take` and leaves its acknowledgement to the caller
 * (a PUBACK written with `writeOnConnection`). `readNext` lets MQTT.js read
 * the packet after it; until it is called, nothing more is read from the
 * connection.
 *
 * Relies on: build/lib/client.js `connect()`, whose `work` hands the parsed
 * packets to their handlers one at a time and parses the next chunk only when
 * the handler is done; build/lib/handlers/publish.js `handlePublish`, QoS 1:
 * `client.handleMessage(packet, cb)`, and a `cb` called with an error ends the
 * packet there, without the `_sendPacket({ cmd: 'puback' })` that follows
 * otherwise (QoS 0: `handleMessage(packet, done)`, the error is dropped).
 *
 * Why: PUBACK after commit (README §What survives what). MQTT.js sends the
 * PUBACK when handleMessage calls back, so waiting there for the commit would
 * hold every later packet (heartbeats, pings) behind the disk; calling back
 * with an error at once reads on without acknowledging, and holding the
 * callback is how the bridge keeps its own receive window (mqtt-session.ts).
 */
export function takeMessagesWithoutPuback(client: MqttClient, take: (packet: IPublishPacket, readNext: () => void) => void): void {
  client.handleMessage = (packet, callback) => take(packet, () => callback(NO_PUBACK));
}

/**
 * The connection MQTT.js uses now.
 *
 * Relies on: build/lib/client.js `connect()` sets `this.stream` to a new
 * stream for each connection and reconnection, and keeps it until the next.
 *
 * Why: a PUBACK belongs to the connection its PUBLISH came on (a message id
 * means nothing on the next one, where the broker sends the message again);
 * the acknowledgements are matched to their connection by this identity.
 */
export function currentConnection(client: MqttClient): Connection {
  return client.stream;
}

/**
 * Writes packets the bridge encoded itself on `connection`, unless MQTT.js
 * has moved on to another connection since, or this one has ended. Returns
 * whether they were written.
 *
 * Relies on: MQTT.js writing each of its own packets to `client.stream` in
 * one synchronous call (mqtt-packet's writeToStream: its pieces written
 * corked, one after the other), so bytes written from elsewhere land between
 * two packets, never inside one; keeping no state about an outgoing QoS 0
 * publish (build/lib/client.js `publish` stores only QoS 1 and 2 in the
 * outgoing store); and keeping none about a received QoS 1 message
 * (build/lib/handlers/publish.js keeps none for QoS 1, unlike QoS 2's
 * incomingStore), so a PUBACK written past it upsets nothing.
 *
 * Why: the PUBACKs, after the commit and outside handleMessage
 * (`takeMessagesWithoutPuback`), and the heartbeat answers, written
 * together, one write a turn instead of one each (turn-writes.ts).
 */
export function writeOnConnection(client: MqttClient, connection: Connection, packets: Buffer): boolean {
  if (connection !== client.stream || connection.destroyed) return false;
  connection.write(packets);
  return true;
}

/**
 * Ends the connection of the moment; MQTT.js reconnects with its session.
 *
 * Relies on: build/lib/client.js `connect()` emitting 'close' when
 * `this.stream` closes, and the client's own 'close' listener scheduling the
 * reconnect (`_setupReconnect`); the broker then sends again, in the
 * persistent session (`clean: false`), every message not acknowledged.
 *
 * Why: a commit failed; its message must come again, and MQTT 3.1.1/5 has no
 * way to ask for one message again but to drop the connection.
 */
export function dropConnectionForResend(client: MqttClient): void {
  client.stream?.destroy();
}

/**
 * Sends small packets at once on the connection of the moment (no Nagle).
 *
 * Relies on: `client.stream` being the TCP (or TLS) socket itself for
 * mqtt:// and mqtts:// (build/lib/connect/tcp.js, tls.js); a WebSocket
 * stream has no `setNoDelay` and is left as it is.
 *
 * Why: Nagle would hold a PUBACK or a heartD back for up to 40 ms.
 */
export function sendWithoutDelay(client: MqttClient): void {
  (client.stream as Partial<Socket>).setNoDelay?.(true);
}

/**
 * Takes a QoS 1 publish that its broker never acknowledged out of MQTT.js,
 * found by the callback it was given; returns whether it was there.
 *
 * Relies on: `client.outgoing` (build/lib/client.js `publish` → `_sendPacket`)
 * keeping each unacknowledged QoS 1 publish under its message id with that
 * very callback as `cb`; `removeOutgoingMessage` (documented) then removes
 * it from the outgoing store that `_onConnect` resends from after a
 * reconnect.
 *
 * Why: a command not acknowledged in time was reported as failed (README §HTTP
 * API); resent after a reconnect, a door would open long after that answer.
 */
export function forgetUnacknowledgedPublish(client: MqttClient, callback: (err?: Error) => void): boolean {
  const entry = Object.entries(client.outgoing).find(([, value]) => value.cb === callback);
  if (!entry) return false;
  client.removeOutgoingMessage(Number(entry[0]));
  return true;
}

/**
 * The wait before MQTT.js's next reconnect attempts.
 *
 * Relies on: build/lib/client.js `_setupReconnect` reading
 * `options.reconnectPeriod` each time it schedules a reconnect, on 'close'.
 * Its own 'close' listener (added in the constructor) runs before any other,
 * so a delay set from a 'close' listener applies from the next close on: the
 * first retry after a lost connection comes after the period set at connect.
 *
 * Why: backoff with jitter, longer while another client keeps taking the
 * session (mqtt-session.ts); MQTT.js has only a fixed period.
 */
export function setReconnectDelay(client: MqttClient, ms: number): void {
  client.options.reconnectPeriod = ms;
}
