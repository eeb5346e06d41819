import { createServer } from 'node:net';
import { Aedes, type AuthenticateError } from 'aedes';
import type { Done } from '../ingest.ts';
import type { Logger } from '../log.ts';
import type { TopicTemplate } from '../protocol/topics.ts';
import { sameSecret } from '../secrets.ts';
import { BrokerUnavailable, type Transport } from './transport.ts';

export interface EmbeddedOptions {
  port: number;
  host?: string;
  username?: string;
  password?: string;
  uplink: TopicTemplate;
  downlink: TopicTemplate;
  ingest: (topic: string, payload: Uint8Array, done: Done) => void;
  log: Logger;
}

/**
 * The aedes broker inside the bridge. Terminals' upLink messages are handed to
 * ingest from `authorizePublish`, the one hook aedes runs before it sends the
 * PUBACK: the terminal is acknowledged only after the commit.
 */
export async function startEmbeddedBroker(options: EmbeddedOptions): Promise<Transport & { port: number }> {
  const { uplink, downlink, log } = options;
  const secured = options.username !== undefined;
  if (!secured) log.warn('embedded broker accepts anonymous terminals: set BROKER_USERNAME and BROKER_PASSWORD to require credentials');

  const broker = await Aedes.createBroker({
    authenticate(client, username, password, done) {
      if (!secured) return done(null, true);
      if (sameSecret(username ?? '', options.username!) && sameSecret(password?.toString() ?? '', options.password ?? '')) return done(null, true);
      log.warn({ clientId: client.id }, 'terminal refused: bad broker credentials');
      const err = new Error('bad user name or password') as AuthenticateError;
      err.returnCode = 4;
      done(err, false);
    },
    authorizePublish(client, packet, callback) {
      if (!client) return callback(null); // the bridge's own publishes
      if (uplink.serialOf(packet.topic) !== undefined) {
        const payload = typeof packet.payload === 'string' ? Buffer.from(packet.payload) : packet.payload;
        return options.ingest(packet.topic, payload, (err) => callback(err ?? null));
      }
      // With credentials, terminals may publish on upLink topics only (SPEC §Configuration).
      callback(secured ? new Error(`publishing to ${packet.topic} is not allowed`) : null);
    },
    authorizeSubscribe(client, subscription, callback) {
      if (!secured || downlink.serialOf(subscription.topic) !== undefined) return callback(null, subscription);
      log.warn({ clientId: client.id, topic: subscription.topic }, 'subscription refused');
      // A null subscription is a refusal in the SUBACK (0x80); the client stays connected.
      callback(null, null);
    },
  });

  // Nagle would hold small packets (a heartD, a PUBACK) back for up to 40 ms waiting for more.
  const server = createServer({ noDelay: true }, broker.handle);
  server.on('error', (err) => log.error({ err: err.message }, 'embedded broker socket error'));
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  log.info({ port }, 'embedded MQTT broker listening');
  let listening = true;

  return {
    port,
    connected: () => listening,
    listening(topic) {
      // Connected clients only: a persistent session of an offline terminal
      // would keep the command and deliver it whenever the terminal returns.
      const clients = Object.values((broker as unknown as { clients: Record<string, { subscriptions: Record<string, unknown> }> }).clients);
      return clients.some((client) => client.subscriptions[topic] !== undefined);
    },
    publish(topic, payload, qos) {
      if (!listening) return Promise.reject(new BrokerUnavailable('embedded broker is stopped'));
      return new Promise((resolve, reject) => {
        broker.publish({ cmd: 'publish', topic, payload: Buffer.from(payload), qos, retain: false, dup: false }, (err) =>
          err ? reject(new BrokerUnavailable(err.message)) : resolve(),
        );
      });
    },
    async stop() {
      listening = false;
      const closed = new Promise((resolve) => server.close(resolve));
      await new Promise<void>((resolve) => broker.close(() => resolve()));
      await closed;
    },
  };
}
