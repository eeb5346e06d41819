import type { MqttClient } from 'mqtt';
import { type Connection, currentConnection, writeOnConnection } from './mqttjs-internals.ts';

/** Bytes gathered before they are written without waiting for the end of the turn: a few hundred heartbeat answers. */
const WRITE_BYTES = 32 * 1024;

/**
 * The packets the bridge encodes itself for a connection to the site's
 * broker (encoded-packets.ts), written together with the others of the same
 * turn of the event loop: one socket write for the hundreds of heartbeat
 * answers MQTT.js parses heartUs for out of one read under load, and for
 * the PUBACKs of the records one commit stored. Written one by one, each
 * cost a system call: a fifth of the main thread at 10,000 heartbeats a
 * second, and one call a record, each a TCP segment the broker read on its
 * own, in a burst (README §Performance). A packet waits for nothing but the
 * end of the turn (or WRITE_BYTES of them), or `flush()`.
 *
 * Packets are not kept across connections: those made for a connection that
 * has ended are dropped. The terminal beats again; the broker sends again,
 * on the next connection, each message whose PUBACK was not written.
 */
export function createTurnWrites(client: MqttClient) {
  let packets: Buffer[] = [];
  let bytes = 0;
  let connection: Connection | undefined;
  let scheduled = false;

  function flush(): void {
    scheduled = false;
    if (connection === undefined) return;
    const data = packets.length === 1 ? packets[0] : Buffer.concat(packets, bytes);
    writeOnConnection(client, connection, data);
    packets = [];
    bytes = 0;
    connection = undefined;
  }

  return {
    /** Writes `packet` on `on` (by default the connection of the moment) by the end of this turn, after those written before it. */
    write(packet: Buffer, on: Connection = currentConnection(client)): void {
      if (connection !== undefined && connection !== on) flush();
      connection = on;
      packets.push(packet);
      bytes += packet.length;
      if (bytes >= WRITE_BYTES) flush();
      else if (!scheduled) {
        scheduled = true;
        setImmediate(flush);
      }
    },
    /** Writes what is gathered now: before the connection is ended. */
    flush,
  };
}

export type TurnWrites = ReturnType<typeof createTurnWrites>;
