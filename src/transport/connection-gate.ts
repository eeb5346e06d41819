import type { Socket } from 'node:net';

/**
 * The embedded broker's bound on connections, one count for its plain and
 * TLS listeners together: past it a new connection is closed at once, before
 * it costs more than its descriptor for that moment.
 */
export function createConnectionGate(max: number, refused: () => void) {
  const open = new Set<Socket>();
  return {
    get open() {
      return open.size;
    },
    /** Counts the socket until it closes; false (and the socket destroyed) when the broker is full. */
    admit(socket: Socket): boolean {
      if (open.size >= max) {
        socket.destroy();
        refused();
        return false;
      }
      open.add(socket);
      socket.once('close', () => open.delete(socket));
      return true;
    },
    /** At a stop: also the connections that never became an MQTT client (no CONNECT yet, a TLS handshake under way). */
    closeAll(): void {
      for (const socket of open) socket.destroy();
    },
  };
}
