import { writeToStream } from 'mqtt-packet';

/**
 * Makes mqtt-packet write a packet's two-byte numbers (a message id, a
 * topic's length) as they come instead of from its table of all 65,536 of
 * them, a Buffer each, made at the first packet the process writes: ~6 MB of
 * the main thread's heap for the process's life, a third of an idle bridge's,
 * marked again by every full collection (README §Performance, Memory). A
 * number made per packet is a 2-byte slice of Buffer's pool, garbage of the
 * young generation. Both transports write with it (aedes and MQTT.js); its
 * README has it set before the first packet is written.
 */
export function writeNumbersUncached(): void {
  writeToStream.cacheNumbers = false;
}
