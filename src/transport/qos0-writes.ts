import type { MqttClient } from 'mqtt';
import { type Connection, currentConnection, writeOnConnection } from './mqttjs-internals.ts';
import { qos0Publish } from './qos0-publish.ts';

/** Bytes gathered before they are written without waiting for the end of the turn: a few hundred heartbeat answers. */
const WRITE_BYTES = 32 * 1024;

/**
 * QoS 0 publishes to the site's broker (the heartbeat answers), each encoded
 * in one buffer (qos0-publish.ts) and written together with the others of
 * the same turn of the event loop: one socket write for the hundreds of
 * heartUs MQTT.js parses out of one read under load, where a publish through
 * MQTT.js cost a write (a writev system call) each and a fifth of the main
 * thread at 10,000 heartbeats a second (README §Performance). The answers
 * wait for nothing but the end of the turn (or WRITE_BYTES of them).
 *
 * A QoS 0 publish is not kept across connections (MQTT.js's own are not
 * either: queueQoSZero is off): answers made for a connection that has
 * ended are dropped; the terminal beats again.
 */
export function createQos0Writes(client: MqttClient) {
  let packets: Buffer[] = [];
  let bytes = 0;
  let connection: Connection | undefined;
  let scheduled = false;

  function write(): void {
    scheduled = false;
    if (connection === undefined) return;
    const data = packets.length === 1 ? packets[0] : Buffer.concat(packets, bytes);
    writeOnConnection(client, connection, data);
    packets = [];
    bytes = 0;
    connection = undefined;
  }

  return {
    publish(topic: string, payload: string): void {
      const now = currentConnection(client);
      if (connection !== undefined && connection !== now) write();
      connection = now;
      const packet = qos0Publish(topic, payload, client.options.protocolVersion === 5);
      packets.push(packet);
      bytes += packet.length;
      if (bytes >= WRITE_BYTES) write();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(write);
      }
    },
  };
}

export type Qos0Writes = ReturnType<typeof createQos0Writes>;
