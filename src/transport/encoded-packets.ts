// The two packets the bridge encodes itself, each in one buffer: the
// heartbeat answer (a QoS 0 PUBLISH), which it writes hundreds of a second,
// and the PUBACK it sends an external broker after a record's commit, one a
// record. mqtt-packet's generate made several buffers for each, and MQTT.js
// wrote each in a call of its own (README §Performance).

/**
 * A QoS 0 PUBLISH as MQTT 3.1.1 §3.3 and 5.0 §3.3 lay it out: the fixed
 * header and remaining length, the topic, no packet id, (MQTT 5) an empty
 * property list, the payload. Made in one buffer: the heartbeat answer's.
 */
export function qos0Publish(topic: string, payload: string, mqtt5: boolean): Buffer {
  const topicBytes = Buffer.byteLength(topic);
  const payloadBytes = Buffer.byteLength(payload);
  let remaining = 2 + topicBytes + (mqtt5 ? 1 : 0) + payloadBytes;
  const lengthBytes = remaining < 128 ? 1 : remaining < 16_384 ? 2 : remaining < 2_097_152 ? 3 : 4;
  const packet = Buffer.allocUnsafe(1 + lengthBytes + remaining);
  let at = 0;
  packet[at++] = 0x30;
  do {
    let byte = remaining % 128;
    remaining = Math.floor(remaining / 128);
    if (remaining > 0) byte |= 0x80;
    packet[at++] = byte;
  } while (remaining > 0);
  packet.writeUInt16BE(topicBytes, at);
  at += 2;
  at += packet.write(topic, at);
  if (mqtt5) packet[at++] = 0;
  packet.write(payload, at);
  return packet;
}

/**
 * The PUBACK of `messageId`: the fixed header, a remaining length of 2, the
 * packet id. The same four bytes in MQTT 3.1.1 §3.4 and 5.0 §3.4, where a
 * PUBACK may leave out its reason code when it is 0 (Success) and it has no
 * properties.
 */
export function puback(messageId: number): Buffer {
  const packet = Buffer.allocUnsafe(4);
  packet[0] = 0x40;
  packet[1] = 2;
  packet.writeUInt16BE(messageId, 2);
  return packet;
}
