import type { Socket } from 'node:net';

/**
 * Ends a connection that has sent nothing for `ms`, whatever keepalive it
 * asked for: MQTT's keepalive 0 means "never check", and 65535 means 27
 * hours. Only what the client sends counts (socket.setTimeout would count the
 * broker's own writes too, and a connection subscribed to a busy downLink
 * would live for ever). README §Connections and memory.
 */
export function endWhenSilent(socket: Socket, ms: number, ended: () => void): void {
  const timer = setTimeout(() => {
    socket.destroy();
    ended();
  }, ms);
  socket.on('data', () => timer.refresh());
  socket.once('close', () => clearTimeout(timer));
}
