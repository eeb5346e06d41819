import { existsSync, readFileSync } from 'node:fs';
import type { AddressInfo, Server } from 'node:net';
import { type ServerType, serve } from '@hono/node-server';
import { type Commands, createCommands } from './commands/commands.ts';
import { startCommandSweep } from './commands/sweep.ts';
import type { Config } from './config.ts';
import { createEndpoints } from './delivery/endpoints.ts';
import { createDeliveryWorker } from './delivery/worker.ts';
import type { StoredEvent } from './events/events.ts';
import { startRetention } from './events/retention.ts';
import { createStreamHub } from './events/stream-hub.ts';
import { loadAdminToken, readAdminToken } from './http/admin-token.ts';
import { createApp } from './http/app.ts';
import { createIngest } from './ingest/ingest.ts';
import type { Logger } from './lib/log.ts';
import { createMetrics } from './lib/metrics.ts';
import { VERSION } from './lib/version.ts';
import { isSerial } from './protocol/serial.ts';
import { topicTemplate } from './protocol/topics.ts';
import { databasePath } from './store/sqlite/open.ts';
import { openSqliteStore } from './store/sqlite/sqlite-store.ts';
import type { Store } from './store/store.ts';
import { createAdmission } from './terminals/admission.ts';
import { createPresence, type Presence } from './terminals/presence.ts';
import { loadClientId } from './transport/client-id.ts';
import { type ConnectionBudget, connectionBudget, HTTP_CONNECTIONS, openFileLimit } from './transport/connection-budget.ts';
import { readTerminalCredentials } from './transport/credentials.ts';
import { startEmbeddedBroker } from './transport/embedded.ts';
import { startExternalClient } from './transport/external.ts';
import { keepServing } from './transport/server-errors.ts';
import { throttledWarn } from './transport/throttled-log.ts';
import type { Transport } from './transport/transport.ts';

/** Rows one forgetting job deletes at most: a job in the writer's queue like any message. */
const FORGET_BATCH = 500;

export interface Running {
  httpPort: number;
  /** The embedded broker's port; undefined against an external broker. */
  brokerPort?: number;
  /** Its mqtts port, when it has a certificate. */
  brokerTlsPort?: number;
  adminToken: string;
}

/**
 * The composition root: builds every part from its dependencies, starts them
 * in order (database → broker or MQTT client → HTTP) and stops them in
 * reverse, each stop isolated so one failure does not leave the rest open.
 * It never exits the process; signals belong to the CLI.
 */
export interface FacegateOptions {
  onFatal?: (err: Error) => void;
  /** Keep-alive interval of the live stream (tests shorten it). */
  streamPingMs?: number;
  /** Bytes a live-stream client may leave unread before it is dropped (tests shorten it). */
  streamMaxBufferedBytes?: number;
  /** How long the embedded broker keeps a command for a terminal that has not taken it (tests shorten it). */
  commandExpiryMs?: number;
  /** How often retention purges and forgets silent terminals (tests shorten it). */
  retentionEveryMs?: number;
  /** The database writer thread's heap limit in MB (tests lower it to run it out of memory). */
  writerHeapMb?: number;
}

export function createFacegate(
  config: Config,
  log: Logger,
  { onFatal = () => {}, streamPingMs, streamMaxBufferedBytes, commandExpiryMs, retentionEveryMs, writerHeapMb }: FacegateOptions = {},
) {
  const uplink = topicTemplate(config.UPLINK_TOPIC);
  const downlink = topicTemplate(config.DOWNLINK_TOPIC);
  const metrics = createMetrics();
  const listeners = new Set<(events: StoredEvent[]) => void>();
  const stops: { name: string; stop: () => unknown }[] = [];
  let running: Running | undefined;
  // Ends the live streams: opened with a token that no longer holds, they must not go on.
  let endStreams: (() => void) | undefined;
  let adminToken = '';

  async function start(): Promise<Running> {
    const policy = { forward: config.FORWARD, images: config.IMAGES, replyField: config.REPLY_FIELD, replyWindowMs: config.REPLY_WINDOW };
    // Before the writer creates the database: one there already is a data dir of an older version.
    const upgrading = existsSync(databasePath(config.DATA_DIR));
    const store: Store = await openSqliteStore(
      { dataDir: config.DATA_DIR, sync: config.SQLITE_SYNC, maxRecords: config.MAX_RECORDS, ...policy },
      {
        log,
        onFatal: (err) => {
          log.fatal({ err: err.message }, 'database writer failed');
          onFatal(err);
        },
        heapMb: writerHeapMb,
      },
    );
    stops.push({ name: 'database', stop: () => store.close() });
    // DEFAULT_DEVICE is a terminal the site relies on: known (and subscribed) from the start like DEVICES.
    const devices = [...new Set([...config.DEVICES, ...(config.DEFAULT_DEVICE ? [config.DEFAULT_DEVICE] : [])])];
    if (devices.length > 0) await store.write({ kind: 'register', serials: devices });

    const endpoints = createEndpoints(store);
    // The endpoint of WEBHOOK_URL, kept in the store like any other so its deliveries survive restarts.
    await endpoints.configureDefault(config.WEBHOOK_URL, config.WEBHOOK_SECRET);
    metrics.sources.outbox = () => store.outboxDepth();

    // README §Commands with replies: a command queued without a ttl when the bridge stopped is never sent late.
    const interrupted = await store.write({ kind: 'commands-interrupted' });
    if (interrupted.failed > 0)
      log.warn({ count: interrupted.failed }, 'commands queued without a ttl when the bridge stopped: failed (interrupted), not sent');

    const known = await storedTerminals(store);
    // Set once the commands exist (after the transport): a terminal back online gets what waited for it.
    let cameOnline: (sn: string) => void = () => {};
    const presence: Presence = createPresence({
      timeoutMs: config.HEARTBEAT_TIMEOUT * 1000,
      initial: known,
      write: (job) => {
        if (job.kind === 'presence' && job.online) cameOnline(job.sn);
        const written = job.kind === 'presence' ? store.write(job).then(({ events }) => events.length > 0 && stored(events)) : store.write(job);
        written.catch((err: Error) => log.error({ err: err.message }, 'presence not stored'));
      },
    });
    stops.push({ name: 'presence', stop: () => presence.stop() });
    metrics.sources.terminalsOnline = presence.onlineCount;
    metrics.sources.terminalsKnown = presence.size;
    // An older store may hold more (MAX_TERMINALS lowered, or a flood before there was a limit): it is kept, and learns nothing new until fewer are known.
    if (known.length > config.MAX_TERMINALS)
      log.warn(
        { known: known.length, maxTerminals: config.MAX_TERMINALS },
        'more terminals stored than MAX_TERMINALS: no new serial is learned until some are forgotten',
      );
    const admission = createAdmission({ maxTerminals: config.MAX_TERMINALS, rate: config.DISCOVERY_RATE, known: presence.size, log });
    stops.push({ name: 'admission', stop: () => admission.stop() });

    // The transport is created after ingest but ingest replies through it; commands after both.
    let transport: Transport | undefined;
    let commands: Commands | undefined;
    const ingest = createIngest({
      uplink,
      downlink,
      maxPayload: config.MAX_PAYLOAD,
      listed: new Set(devices),
      discovery: config.DISCOVERY,
      admission,
      // Which transport runs decides what a message not admitted becomes.
      refuse: !config.MQTT_URL,
      presence,
      store,
      metrics,
      log,
      reply: (topic, payload) => void transport?.publish(topic, payload, 0).catch(() => {}),
      stored,
      replied: (replied) => commands?.replied(replied),
      publishing: (sn) => commands?.unrecorded(sn),
      heard: (sn) => commands?.heard(sn),
    });

    const budget = connectionBudget(config.MAX_CONNECTIONS, openFileLimit(), !config.MQTT_URL);
    if (budget.fileLimit !== undefined) warnFileLimit(budget);

    let brokerPort: number | undefined;
    let brokerTlsPort: number | undefined;
    if (config.MQTT_URL) {
      transport = await startExternalClient({
        url: config.MQTT_URL,
        username: config.MQTT_USERNAME,
        password: config.MQTT_PASSWORD,
        clientId: loadClientId(config.MQTT_CLIENT_ID, config.DATA_DIR, upgrading),
        ca: config.MQTT_CA ? readFileSync(config.MQTT_CA) : undefined,
        uplink,
        discovery: config.DISCOVERY,
        serials: devices,
        listed: known.filter((t) => t.registered).map((t) => t.sn),
        maxPayload: config.MAX_PAYLOAD,
        ingest,
        registry: metrics.registry,
        log,
      });
    } else {
      const broker = await startEmbeddedBroker({
        port: config.BROKER_PORT,
        host: config.BROKER_HOST,
        terminals: config.BROKER_CREDENTIALS ? readTerminalCredentials(config.BROKER_CREDENTIALS) : undefined,
        tls:
          config.BROKER_TLS_CERT && config.BROKER_TLS_KEY
            ? { port: config.BROKER_TLS_PORT, cert: readFileSync(config.BROKER_TLS_CERT), key: readFileSync(config.BROKER_TLS_KEY) }
            : undefined,
        username: config.BROKER_USERNAME,
        password: config.BROKER_PASSWORD,
        maxPayload: config.MAX_PAYLOAD,
        maxConnections: budget.broker,
        // README §Connections and memory: silent for twice the time that makes a terminal offline.
        idleMs: 2 * config.HEARTBEAT_TIMEOUT * 1000,
        commandExpiryMs,
        uplink,
        downlink,
        ingest,
        registry: metrics.registry,
        log,
      });
      brokerPort = broker.port;
      brokerTlsPort = broker.tlsPort;
      transport = broker;
    }
    const mqtt = transport;
    stops.push({ name: 'mqtt', stop: () => mqtt.stop() });

    const { token, created, file } = loadAdminToken(config.ADMIN_TOKEN, config.DATA_DIR);
    adminToken = token;
    if (created) {
      // Shown once, on the terminal that started the first run; never logged again.
      process.stderr.write(`\nfacegate: generated an admin token (kept in ${file}):\n\n  ${token}\n\n`);
    }
    const delivery = createDeliveryWorker({
      store,
      endpoints,
      metrics,
      log,
      schedule: config.DELIVERY_SCHEDULE,
      timeoutMs: config.DELIVERY_TIMEOUT,
      concurrency: config.DELIVERY_CONCURRENCY,
      images: config.IMAGES,
      userAgent: `facegate/${VERSION}`,
    });
    const sending = createCommands({ transport, downlink, presence, store, metrics, log, rate: config.COMMAND_RATE, replyField: config.REPLY_FIELD });
    commands = sending;
    cameOnline = (sn) => sending.wake(sn);
    metrics.sources.commandsQueued = () => store.queuedCount();
    stops.push({ name: 'commands', stop: () => sending.stop() });
    const sweep = startCommandSweep({ store, metrics, log, stored });
    stops.push({ name: 'command sweep', stop: () => sweep.stop() });
    const hub = createStreamHub(store);
    endStreams = () => hub.closeAll();
    metrics.sources.streamClients = () => hub.size;
    const app = createApp({
      hub,
      streamPingMs,
      streamMaxBufferedBytes,
      adminToken: () => adminToken,
      bodyLimit: config.BODY_LIMIT,
      commands: sending,
      presence,
      store,
      endpoints,
      delivery,
      log,
      defaultDevice: config.DEFAULT_DEVICE,
      devices: config.DEVICES,
      maxTerminals: config.MAX_TERMINALS,
      metrics,
      ready: () => mqtt.connected() && store.healthy,
    });
    const server = await listen(app.fetch, config.PORT, config.HOST, budget.http, log);
    stops.push({ name: 'http', stop: () => closeServer(server) });
    stops.push({ name: 'live streams', stop: () => hub.closeAll() });
    const unpublish = onStored(hub.publish);
    stops.push({ name: 'stream hub', stop: unpublish });
    const httpPort = (server.address() as AddressInfo).port;

    const retention = startRetention({
      days: config.RETENTION_DAYS,
      forgetAfterMs: config.FORGET_AFTER,
      forgotten: presence.forgetSilent,
      store,
      log,
      everyMs: retentionEveryMs,
    });
    stops.push({ name: 'retention', stop: () => retention.stop() });

    await delivery.start();
    // What waited in the queue goes out as its terminals are reachable.
    await sending.start();
    const unsubscribe = onStored(delivery.wake);
    stops.push({
      name: 'delivery',
      stop: () => {
        unsubscribe();
        return delivery.stop();
      },
    });
    log.info({ port: httpPort, broker: config.MQTT_URL ? 'external' : 'embedded' }, 'facegate started');
    running = { httpPort, brokerPort, brokerTlsPort, adminToken: token };
    return running;
  }

  /** README §Connections and memory: the open-file limit, not the settings, bounds the connections. */
  function warnFileLimit(budget: ConnectionBudget) {
    const lowered = [
      budget.broker > 0 && budget.broker < config.MAX_CONNECTIONS
        ? `the embedded broker to ${budget.broker} connections (MAX_CONNECTIONS=${config.MAX_CONNECTIONS})`
        : undefined,
      budget.http < HTTP_CONNECTIONS ? `HTTP to ${budget.http} connections` : undefined,
    ].filter(Boolean);
    log.warn(
      { fileLimit: budget.fileLimit, brokerConnections: budget.broker || undefined, httpConnections: budget.http },
      `the open-file limit (${budget.fileLimit}) holds ${lowered.join(' and ')}: raise it with LimitNOFILE= in the systemd unit, or ulimit -n`,
    );
  }

  /**
   * The terminals table, read once. A serial an earlier version learned that
   * is no serial (README §Topics) is no topic's any more: its row goes.
   */
  async function storedTerminals(store: Store) {
    const stored = await store.terminals();
    const invalid = stored.filter((t) => !isSerial(t.sn)).map((t) => t.sn);
    for (let i = 0; i < invalid.length; i += FORGET_BATCH) await store.write({ kind: 'forget', serials: invalid.slice(i, i + FORGET_BATCH) });
    if (invalid.length > 0) log.warn({ count: invalid.length }, 'stored terminals whose serial is no serial forgotten');
    return invalid.length > 0 ? stored.filter((t) => isSerial(t.sn)) : stored;
  }

  function onStored(listener: (events: StoredEvent[]) => void) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  function stored(events: StoredEvent[]) {
    for (const event of events) metrics.events.inc({ type: event.type });
    for (const listener of listeners) listener(events);
  }

  async function stop(): Promise<void> {
    while (stops.length > 0) {
      const { name, stop } = stops.pop()!;
      try {
        await stop();
      } catch (err) {
        log.error({ part: name, err: (err as Error).message }, 'stop failed');
      }
    }
    log.info('facegate stopped');
  }

  /**
   * Token rotation without a restart (SIGHUP): the token file in DATA_DIR is
   * read again; sessions signed with the old token end with it. A token given
   * as ADMIN_TOKEN cannot change in a running process.
   */
  function reloadToken(): boolean {
    if (config.ADMIN_TOKEN !== undefined || !running) return false;
    const read = readAdminToken(config.DATA_DIR);
    if (!('token' in read)) {
      log.error({ problem: read.problem }, 'admin token not reloaded: the token in use stays');
      return false;
    }
    const { token } = read;
    const changed = token !== adminToken;
    adminToken = token;
    if (changed) {
      log.warn('admin token changed: the token file was read again; live streams end and reconnect with the new one');
      endStreams?.();
    }
    return changed;
  }

  return {
    start,
    stop,
    reloadToken,
    metrics,
    /** Subscribe to events as they are committed. */
    onStored,
  };
}

export type Facegate = ReturnType<typeof createFacegate>;

/**
 * The HTTP server, with a bound of its own on connections (README
 * §Connections and memory): past it Node closes a new connection at once, so
 * clients holding connections open cannot take the descriptors the broker
 * needs, and the broker's cannot take those of `/healthz`.
 */
function listen(
  fetch: (req: Request) => Response | Promise<Response>,
  port: number,
  hostname: string,
  maxConnections: number,
  log: Logger,
): Promise<ServerType> {
  return new Promise((resolve, reject) => {
    const server = serve({ fetch, port, hostname }, () => {
      server.off('error', reject);
      keepServing(server as Server, log, 'HTTP server');
      resolve(server);
    });
    server.once('error', reject);
    (server as Server).maxConnections = maxConnections;
    const dropped = throttledWarn(log, 'HTTP connection refused: the server holds as many as it may');
    server.on('drop', () => dropped({ max: maxConnections }));
  });
}

function closeServer(server: ServerType): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    // Idle keep-alive connections would otherwise hold close() open.
    if ('closeIdleConnections' in server) server.closeIdleConnections();
  });
}
