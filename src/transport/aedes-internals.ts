import type { Duplex } from 'node:stream';
import type { Aedes, AedesOptions, Client, ConnectPacket, PublishPacket } from 'aedes';

/**
 * What the embedded broker (embedded.ts) takes from aedes beyond its
 * documented API, one function per assumption. Each names the aedes code it
 * relies on (aedes.js, lib/…, in the version package.json pins) and why the
 * bridge needs it; test/unit/aedes-internals.test.ts checks each against the
 * installed aedes. Run it before raising the pin (README §Dependencies and why).
 */

type AuthorizePublish = NonNullable<AedesOptions['authorizePublish']>;

/**
 * The `authorizePublish` hook, as the one place a PUBLISH waits before it is
 * acknowledged.
 *
 * Relies on: lib/handlers/publish.js `handlePublish`, which runs
 * `authorizePublish` then `enqueuePublish` in series: the PUBACK (QoS 1) or
 * the stored packet and its PUBREC (QoS 2) follow only once the hook has
 * called back without an error; with an error the series ends there and the
 * client is closed (lib/client.js `_onError`), nothing acknowledged. One
 * connection's packets reach the hook in the order they arrived (lib/client.js
 * `enqueue` hands each packet parsed from a chunk to `handle` in turn).
 *
 * Why: a terminal's message is acknowledged only after its commit (README
 * §What survives what): ingest runs from the hook and calls back after the
 * commit; a failed commit or a refused publish ends the connection, and the
 * terminal sends the message again. packet-limit.ts gives back the room of
 * large messages in the order their headers came.
 */
export function ackWaitsForAuthorizePublish(hook: AuthorizePublish): AuthorizePublish {
  return hook;
}

/**
 * Hands a connection to aedes; returns the client aedes made of it.
 *
 * Relies on: aedes.js `handle(conn)` returning the Client it creates, the
 * object its hooks then get for that connection; lib/client.js reading
 * `conn` through 'readable' and `read()`, so a 'data' listener already on it
 * sees each chunk as aedes takes it, before aedes handles the packets in it;
 * and a destroyed `conn` closing the client (`finished(conn, close)`).
 *
 * Why: packet-limit.ts reads each packet's header from the chunks before
 * aedes buffers the packet, ends the connection by destroying the socket,
 * and gives back its room from authorizePublish, found by this client;
 * silence.ts ends a connection that sends nothing.
 */
export function handleConnection(broker: Aedes, conn: Duplex): Client {
  return broker.handle(conn);
}

/**
 * Keeps a CONNECT's will only when `allowed(topic)`, and then not retained.
 *
 * Relies on: lib/handlers/connect.js `handleConnect` calling `preConnect`
 * first and taking `packet.will` only after it (`init`: `client._will =
 * packet.will`), so what preConnect changes is the will the session keeps
 * and later publishes (the documentation says only "the packet can be
 * modified").
 *
 * Why: a will goes out only on an upLink, and is never retained (README
 * §Topic rules).
 */
export function limitWillBeforeAedesTakesIt(packet: ConnectPacket, allowed: (topic: string) => boolean): void {
  const will = packet.will;
  if (!will) return;
  if (allowed(will.topic)) will.retain = false;
  else packet.will = undefined;
}

/**
 * Whether `packet`, in authorizePublish, is the will of a client closing
 * without a DISCONNECT.
 *
 * Relies on: lib/client.js `close()` → `finish`, which hands the client's
 * will object itself (`client.will`, kept by lib/handlers/connect.js
 * `storeWill`) to `authorizePublish`, and clears `client.will` only after the
 * hook has returned.
 *
 * Why: a will speaks for a terminal; it is taken in only from a client
 * logged in as that terminal, or listening on its downLink as the terminal
 * itself does (README §Topic rules).
 */
export function isClosingClientsWill(client: Client, packet: PublishPacket): boolean {
  return packet === (client as Client & { will?: unknown }).will;
}

/**
 * Clears the retain flag of the packet authorizePublish was given, for all
 * that aedes does with it next.
 *
 * Relies on: lib/handlers/publish.js `enqueuePublish` handing the hook's
 * packet object on to `broker.publish` (aedes.js), whose retained store
 * (`storeRetained`) and deliveries read its `retain`.
 *
 * Why: nothing is ever retained (README §Topic rules); a retained record is
 * taken in as a plain one.
 */
export function notRetainedFromHere(packet: PublishPacket): void {
  packet.retain = false;
}

/** What aedes keeps of an upLink message's payload once the bridge has taken it in. */
const NO_PAYLOAD = Buffer.alloc(0);

/**
 * Empties the payload of a packet the bridge has taken in from
 * authorizePublish: aedes keeps the packet without it until it acknowledges
 * it (QoS 1: after the commit) or, QoS 2, until the PUBREL.
 *
 * Relies on: lib/handlers/publish.js `handlePublish` holding the packet
 * through the hook's callback; then `enqueuePublish` publishing it (to no
 * one: `deliverNothingOn`) and, QoS 2, storing the hook's packet object for
 * its PUBREL (`persistence.incomingStorePacket`, a copy made then).
 *
 * Why: held with its bytes, each payload outlived its commit, ~0.5 s in a
 * burst, into V8's old generation, which only a full collection frees (README
 * §Performance, The payloads' memory); and a client may leave up to
 * QOS2_WAITING messages without their PUBREL for as long as it pleases,
 * MAX_PAYLOAD each. No client subscribes to an upLink, so the payload is
 * not needed again.
 */
export function keepNoPayload(packet: PublishPacket): void {
  packet.payload = NO_PAYLOAD;
}

/**
 * Replaces aedes' retained store with one that keeps nothing.
 *
 * Relies on: aedes.js `listen()` setting `broker.persistence` (in memory by
 * default), and its `storeRetained` step of every publish calling
 * `broker.persistence.storeRetained(packet)` anew each time.
 *
 * Why: nothing is ever retained (README §Topic rules), also for what reaches
 * `broker.publish` without passing authorizePublish.
 */
export function neverStoreRetained(broker: Aedes): void {
  (broker as unknown as { persistence: { storeRetained: (packet: unknown) => Promise<void> } }).persistence.storeRetained = async () => {};
}

/**
 * Which topics a client connected now subscribes to, kept as aedes reports
 * its subscriptions: `listening(topic)` costs a lookup, not a walk over every
 * client (a fan-out asks it for thousands of terminals at once).
 *
 * Relies on: aedes emitting `subscribe` (lib/handlers/subscribe.js
 * `completeSubscribe`) for each SUBSCRIBE, with qos 128 for those refused;
 * `clientReady` (lib/handlers/connect.js) once a client is connected, its
 * persistent session's subscriptions restored into lib/client.js
 * `subscriptions` (restoring emits no `subscribe`);
 * `unsubscribe` for an UNSUBSCRIBE (and a clean session's close); and
 * `clientDisconnect` once a client is unregistered (aedes.js
 * `unregisterClient`); aedes.js `clients`, the connected clients by id,
 * checked again so that no late event can leave a closed client listening.
 *
 * Why: a command for a terminal that is not listening is refused at once
 * (`device_offline`, README §Commands with replies) or kept (ttl); a
 * persistent session of an offline terminal would keep it and open the door
 * whenever the terminal returns.
 */
export function trackListening(
  broker: Aedes,
  onListening: (topic: string) => void = () => {},
): { listening(topic: string): boolean; eachSubscriber(topic: string, visit: (client: Client) => void): number } {
  const byTopic = new Map<string, Set<Client>>();
  const byClient = new WeakMap<Client, Set<string>>();
  const connected = (broker as unknown as { clients: Record<string, Client> }).clients;
  const drop = (client: Client, topic: string) => {
    const clients = byTopic.get(topic);
    clients?.delete(client);
    if (clients?.size === 0) byTopic.delete(topic);
    byClient.get(client)?.delete(topic);
  };
  const add = (client: Client, topic: string) => {
    let clients = byTopic.get(topic);
    if (!clients) {
      clients = new Set();
      byTopic.set(topic, clients);
    }
    clients.add(client);
    let topics = byClient.get(client);
    if (!topics) {
      topics = new Set();
      byClient.set(client, topics);
    }
    topics.add(topic);
    onListening(topic);
  };
  broker.on('subscribe', (subscriptions, client) => {
    for (const { topic, qos } of subscriptions) if ((qos as number) !== 128) add(client, topic);
  });
  broker.on('clientReady', (client) => {
    const restored = (client as unknown as { subscriptions: Record<string, unknown> }).subscriptions;
    for (const topic of Object.keys(restored)) add(client, topic);
  });
  broker.on('unsubscribe', (topics, client) => {
    for (const topic of topics) drop(client, topic);
  });
  broker.on('clientDisconnect', (client) => {
    for (const topic of [...(byClient.get(client) ?? [])]) drop(client, topic);
  });
  return {
    listening(topic) {
      const clients = byTopic.get(topic);
      if (!clients) return false;
      for (const client of clients) if (connected[client.id] === client) return true;
      return false;
    },
    /**
     * Each connected client subscribed to `topic` (a heartbeat's answer goes
     * to them, embedded.ts); how many. A SUBSCRIBE aedes has taken but not
     * reported yet (`subscribe` comes once it is stored and answered) is not
     * among them.
     */
    eachSubscriber(topic, visit) {
      const clients = byTopic.get(topic);
      let visited = 0;
      if (clients)
        for (const client of clients)
          if (connected[client.id] === client) {
            visit(client);
            visited += 1;
          }
      return visited;
    },
  };
}

/**
 * Writes a whole MQTT packet to a client's connection beside aedes, which
 * writes its own packets to the same connection.
 *
 * Relies on: lib/write.js writing each packet of aedes with mqtt-packet's
 * `writeToStream` in one synchronous run (the connection corked, its pieces
 * written, uncorked on the next tick), and aedes writing to the connection
 * nowhere else: bytes written between two of its packets never land inside
 * one, and go out in the order written.
 *
 * Why: a heartbeat's answer goes straight to the terminal's connection, as
 * bytes made once, without aedes' delivery (a packet copy, two turns of the
 * event loop, a write in pieces), ten thousand times a second (README
 * §Performance).
 */
export function writeBesideAedes(conn: Duplex, packet: Buffer): void {
  if (!conn.destroyed && conn.writable) conn.write(packet);
}

type Finished = (err?: Error) => void;
type BrokerPublish = (packet: PublishPacket, client: Client | null | Finished, done?: Finished) => void;

/**
 * Makes aedes hand no message on `nowhere(topic)` to its subscriptions: the
 * publish is finished at once, as one that matched no subscriber is.
 *
 * Relies on: lib/handlers/publish.js `enqueuePublish` (after the PUBACK for
 * QoS 1, after storing it for QoS 2) and lib/client.js `close()` (a will)
 * calling `broker.publish(packet, client, done)` through the broker object,
 * whose own property then stands in for aedes.js `publish`; and that
 * `publish`, when no subscription matches (mqemitter's `emit` over none) and
 * nothing is retained, only calling `done` (synchronously, as this does).
 *
 * Why: the bridge takes an upLink message in from authorizePublish, and no
 * client may subscribe to an upLink (README §Topic rules). Passed on, each
 * heartbeat paid for aedes' packet copy, its publish series and a topic
 * match that finds no one, ten thousand times a second (README §Performance).
 */
export function deliverNothingOn(broker: Aedes, nowhere: (topic: string) => boolean): void {
  const target = broker as unknown as { publish: BrokerPublish };
  const publish: BrokerPublish = target.publish.bind(broker);
  target.publish = (packet, client, done) => {
    if (typeof client === 'function') return publish(packet, client, done);
    if (!nowhere(packet.topic)) return publish(packet, client, done);
    done?.();
  };
}

/**
 * A packet for `broker.publish` that carries the moment it expires.
 *
 * Relies on: aedes-packet's `Packet` copying `messageExpiry` each time aedes
 * wraps a packet (aedes.js `publish`, lib/handlers/subscribe.js, lib/qos-packet.js)
 * and aedes-persistence keeping it with a message queued for an offline
 * session, up to `authorizeForward`; aedes itself does not act on it.
 *
 * Why: a command kept in a session must not reach a terminal that comes back
 * after it expired (`expiryKeptWithPacket` in authorizeForward).
 */
export function packetWithExpiry<T extends object>(packet: T, expiresAt: number): T & { messageExpiry: number } {
  return { ...packet, messageExpiry: expiresAt };
}

/** The moment a packet from `packetWithExpiry` expires, as authorizeForward sees it; undefined for any other. */
export function expiryKeptWithPacket(packet: object): number | undefined {
  return (packet as { messageExpiry?: number }).messageExpiry;
}

/**
 * Whether an 'unsubscribe' event comes from a client closing, not from its
 * UNSUBSCRIBE.
 *
 * Relies on: lib/client.js `close()` setting `closed` before it unsubscribes
 * every subscription of the client, whose 'unsubscribe' event
 * (lib/handlers/unsubscribe.js `completeUnsubscribe`) then carries a closed
 * client.
 *
 * Why: which downLinks a client listens on decides whose will it may leave;
 * a closing client's will is checked against what it listened on.
 */
export function unsubscribedByClosing(client: Client): boolean {
  return client.closed;
}

/**
 * Listens for failures of aedes' own store.
 *
 * Relies on: aedes.js emitting 'error' on the broker when its persistence
 * fails (`DoEnqueues`, the sweep of wills); the types leave the event out.
 *
 * Why: an 'error' without a listener ends the process; the bridge logs it and
 * goes on.
 */
export function onStoreFailure(broker: Aedes, listener: (err: Error) => void): void {
  (broker as unknown as NodeJS.EventEmitter).on('error', listener);
}
