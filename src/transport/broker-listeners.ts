import { createServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TLSSocket } from 'node:tls';
import type { Logger } from '../lib/log.ts';
import type { createConnectionGate } from './connection-gate.ts';
import { keepServing } from './server-errors.ts';
import { throttledWarn } from './throttled-log.ts';

export interface ListenOptions {
  port: number;
  host: string;
  tls?: { port: number; cert: Buffer; key: Buffer };
  /** A TLS handshake not done by then is dropped. */
  handshakeTimeoutMs: number;
  /** The one bound on connections of both listeners. */
  gate: ReturnType<typeof createConnectionGate>;
  /** Takes an admitted connection (plain, or TLS once its handshake is done). */
  serve: (socket: Socket | TLSSocket) => void;
  /** Bytes a plain connection reads ahead of the messages in hand (embedded.ts, EmbeddedOptions.readAheadBytes); Node's default when absent. */
  readAheadBytes?: number;
  log: Logger;
}

/**
 * The embedded broker's listeners on BROKER_HOST: plain MQTT, and mqtts when
 * it has a certificate. Each connection is counted against the gate as it is
 * accepted, before a TLS handshake or a CONNECT costs anything more.
 */
export async function listenForTerminals({ port, host, tls, handshakeTimeoutMs, gate, serve, readAheadBytes, log }: ListenOptions) {
  // Nagle would hold small packets (a heartD, a PUBACK) back for up to 40 ms
  // waiting for more; set on the TCP socket, it holds for TLS too. The
  // read-ahead is the socket's readable buffer: a TLS socket has its own,
  // which Node's TLS server does not let us size, and keeps Node's default.
  const server = createServer({ noDelay: true, ...(readAheadBytes ? { highWaterMark: readAheadBytes } : {}) }, (socket) => {
    if (gate.admit(socket)) serve(socket);
  });
  const plainPort = await listen(server, port, host);
  keepServing(server, log, 'embedded broker');
  let tlsListener: Server | undefined;
  let tlsPort: number | undefined;
  if (tls) {
    // The TLS server does not listen itself: a plain listener admits each
    // connection and hands it over for the handshake.
    const tlsServer = createTlsServer({ cert: tls.cert, key: tls.key, handshakeTimeout: handshakeTimeoutMs }, serve);
    const handshakeRefused = throttledWarn(log, 'TLS handshake refused');
    tlsServer.on('tlsClientError', (err) => handshakeRefused({ err: err.message }));
    tlsListener = createServer({ noDelay: true }, (socket) => {
      if (gate.admit(socket)) tlsServer.emit('connection', socket);
    });
    tlsPort = await listen(tlsListener, tls.port, host);
    keepServing(tlsListener, log, 'embedded broker (mqtts)');
  }
  return {
    port: plainPort,
    tlsPort,
    /** Stops listening; resolves once every connection has ended. */
    close(): Promise<unknown> {
      return Promise.all([server, tlsListener].map((s) => s && new Promise((resolve) => s.close(resolve))));
    },
  };
}

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      const address = server.address();
      resolve(typeof address === 'object' && address ? address.port : port);
    });
  });
}
