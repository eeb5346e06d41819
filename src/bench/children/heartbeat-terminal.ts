import { connect } from 'node:net';
import { generate, type Packet, parser } from 'mqtt-packet';
import { heartU, reply, replyCmd } from '../../kit/records.ts';
import { DOWNLINK, UPLINK } from '../../kit/terminal.ts';

// A terminal reduced to what the heartbeat scenario needs, on a bare socket:
// it connects and subscribes to its downLink as the simulator's do (MQTT
// 3.1.1, clean session, its serial as client id), then writes a heartU whose
// bytes were built once and notes when each heartD arrives. It answers every
// command `xxxD` on its downLink with `xxxU` on its upLink at QoS 1, as the
// simulator's terminals do (README §Commands with replies), and counts it;
// a heartbeat run receives no command and pays for none. An mqtt.js client
// per terminal (a stream pipeline, a promise and a keepalive timer for every
// packet) made ten thousand of them cost more CPU than the broker they were
// measuring, on a machine that runs both.

/** No PINGREQ is ever sent: the runs are shorter than 1.5 × this, and the heartbeats themselves keep the session alive. */
const KEEPALIVE_S = 120;
const HEARTU = Buffer.from(JSON.stringify(heartU()));
const HEARTD = Buffer.from('"heartD"');

export interface HeartbeatTerminal {
  /** Writes one heartU; false when the connection is gone. */
  beat(): boolean;
  /** `at`: performance.now() when the bytes that completed the heartD were read. */
  onHeartD(listener: (at: number) => void): void;
  /** After a command was answered (its reply written); `at` as for onHeartD. */
  onCommand(listener: (at: number) => void): void;
  close(): void;
}

/**
 * Resolves once connected and subscribed, rejects on a refusal, a closed
 * connection, or after `timeoutMs`. With `replyField` (the bridge's
 * REPLY_FIELD) each reply echoes that field of its command.
 */
export function connectHeartbeatTerminal(url: URL, sn: string, timeoutMs: number, replyField?: string): Promise<HeartbeatTerminal> {
  const socket = connect({ host: url.hostname, port: Number(url.port), noDelay: true });
  const packets = parser({ protocolVersion: 4 });
  const heartUPacket = generate({ cmd: 'publish', topic: UPLINK.topicOf(sn), payload: HEARTU, qos: 0, retain: false, dup: false, messageId: 0 });
  let onHeartD: (at: number) => void = () => {};
  let onCommand: (at: number) => void = () => {};
  let readAt = 0;
  let nextMessageId = 0;
  /** A command's reply, at QoS 1 as the simulator's terminals send theirs; the broker's PUBACK needs no answer. */
  const answer = (payload: Buffer | string) => {
    let command: unknown;
    try {
      command = JSON.parse(payload.toString());
    } catch {
      return;
    }
    if (typeof command !== 'object' || command === null || typeof (command as { cmd?: unknown }).cmd !== 'string') return;
    const named = command as { cmd: string } & Record<string, unknown>;
    if (replyCmd(named.cmd) === undefined) return;
    nextMessageId = (nextMessageId % 65_535) + 1;
    const body = Buffer.from(JSON.stringify(reply(named, sn, replyField)));
    socket.write(generate({ cmd: 'publish', topic: UPLINK.topicOf(sn), payload: body, qos: 1, retain: false, dup: false, messageId: nextMessageId }));
    onCommand(readAt);
  };
  let live = false;

  return new Promise((resolve, reject) => {
    const fail = (err: Error) => {
      clearTimeout(timer);
      socket.destroy();
      reject(new Error(`${sn}: ${err.message}`));
    };
    const timer = setTimeout(() => fail(new Error(`not connected and subscribed within ${timeoutMs / 1000} s`)), timeoutMs);
    const onPacket = (packet: Packet) => {
      switch (packet.cmd) {
        case 'connack':
          if (packet.returnCode !== 0) return fail(new Error(`the broker refused the connection (return code ${packet.returnCode})`));
          socket.write(generate({ cmd: 'subscribe', messageId: 1, subscriptions: [{ topic: DOWNLINK.topicOf(sn), qos: 1 }] }));
          return;
        case 'suback':
          if (packet.granted.some((g) => (typeof g === 'number' ? g : (g as { qos?: number }).qos) === 128))
            return fail(new Error('the broker refused the subscription'));
          clearTimeout(timer);
          live = true;
          resolve({
            beat: () => live && socket.write(heartUPacket),
            onHeartD: (listener) => {
              onHeartD = listener;
            },
            onCommand: (listener) => {
              onCommand = listener;
            },
            close: () => socket.destroy(),
          });
          return;
        case 'publish':
          // A broker may deliver at the subscription's QoS 1: the PUBACK keeps it from sending again.
          if (packet.qos === 1 && packet.messageId !== undefined) socket.write(generate({ cmd: 'puback', messageId: packet.messageId }));
          if (Buffer.isBuffer(packet.payload) && packet.payload.includes(HEARTD)) onHeartD(readAt);
          else if (live) answer(packet.payload);
          return;
      }
    };
    packets.on('packet', onPacket);
    packets.on('error', (err: Error) => (live ? socket.destroy() : fail(err)));
    socket.once('connect', () => {
      socket.write(generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clientId: sn, clean: true, keepalive: KEEPALIVE_S }));
    });
    socket.on('data', (chunk: Buffer) => {
      readAt = performance.now();
      packets.parse(chunk);
    });
    socket.on('error', (err) => {
      if (!live) fail(err);
    });
    socket.on('close', () => {
      if (!live) fail(new Error('the broker closed the connection'));
      live = false;
    });
  });
}
