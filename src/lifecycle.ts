import { existsSync, readFileSync } from 'node:fs';
import { type Cluster, localCluster, replicaId, type Wake } from './cluster/cluster.ts';
import { slotPlan } from './cluster/slot-plan.ts';
import { type Commands, createCommands } from './commands/commands.ts';
import { createHeldReplies, type HeldReplies } from './commands/held-replies.ts';
import { startCommandSweep } from './commands/sweep.ts';
import type { Config } from './config.ts';
import { createEndpoints } from './delivery/endpoints.ts';
import { createDeliveryWorker } from './delivery/worker.ts';
import type { StoredEvent } from './events/events.ts';
import { startRetention } from './events/retention.ts';
import { createStreamHub } from './events/stream-hub.ts';
import { createAdminToken } from './http/admin-token.ts';
import { createApp } from './http/app.ts';
import { createCallers } from './http/callers.ts';
import { serveHttp } from './http/serve.ts';
import { createIngest } from './ingest/ingest.ts';
import type { Logger } from './lib/log.ts';
import { createMetrics } from './lib/metrics.ts';
import { runtimeWarning } from './lib/runtime.ts';
import { settleHeap } from './lib/settle-heap.ts';
import { siteZone } from './lib/units.ts';
import { VERSION } from './lib/version.ts';
import { createPeopleSync, type PeopleSync } from './people/sync.ts';
import { topicTemplate } from './protocol/topics.ts';
import { databasePath } from './store/sqlite/open.ts';
import type { Store } from './store/store.ts';
import { createAdmission } from './terminals/admission.ts';
import { createPresence, type Presence } from './terminals/presence.ts';
import { storedTerminals } from './terminals/stored.ts';
import { loadClientId } from './transport/client-id.ts';
import { connectionBudget, openFileLimit, warnFileLimit } from './transport/connection-budget.ts';
import { readTerminalCredentials } from './transport/credentials.ts';
import { writeNumbersUncached } from './transport/packet-numbers.ts';
import type { Transport } from './transport/transport.ts';

export interface Running {
  httpPort: number;
  /** The embedded broker's port; undefined against an external broker. */
  brokerPort?: number;
  /** Its mqtts port, when it has a certificate. */
  brokerTlsPort?: number;
  adminToken: string;
}

/** What start() throws when stop() came before it finished: what it had started is stopped. */
export class StartAborted extends Error {
  constructor() {
    super('stopped while starting');
  }
}

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

/**
 * The composition root: it only wires the parts and orders them. It builds
 * each from its dependencies, starts them in order (database → broker or MQTT
 * client → HTTP) and stops them in reverse, each stop isolated so one failure
 * does not leave the rest open. A stop that comes during the start ends it at
 * its next step, and stops what had started. It never exits the process;
 * signals belong to the CLI.
 */
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
  let starting: Promise<Running> | undefined;
  let stopRequested = false;
  // Ends the live streams: opened with a token that no longer holds, they must not go on.
  let endStreams: (() => void) | undefined;
  let adminToken: ReturnType<typeof createAdminToken> | undefined;
  // The other replicas are told through this once the cluster exists (nothing before it is committed).
  let announce: (wake: Wake) => void = () => {};

  /** Between the steps of the start, each after its part's stop is registered: a stop asked for meanwhile ends the start here. */
  function checkpoint() {
    if (stopRequested) throw new StartAborted();
  }

  function start(): Promise<Running> {
    starting ??= startParts();
    return starting;
  }

  async function startParts(): Promise<Running> {
    const startedAt = Date.now();
    checkpoint();
    // README §Running several replicas: this process among the replicas; the command rows it accepts name it.
    const replica = replicaId();
    const policy = {
      replica,
      forward: config.FORWARD,
      images: config.IMAGES,
      replyField: config.REPLY_FIELD,
      replyWindowMs: config.REPLY_WINDOW,
      personCommands: config.PERSON_COMMANDS,
      clockSkewMs: config.CLOCK_SKEW,
    };
    // Before the writer creates the database: one there already is a data dir of an older version.
    const upgrading = existsSync(databasePath(config.DATA_DIR));
    // README §Metrics: how long each batch takes to commit, whichever engine (facegate_commit_seconds).
    const observeCommit = (seconds: number) => metrics.commitSeconds.observe(seconds);
    // README §PostgreSQL: DATABASE_URL stores everything there; DATA_DIR keeps the other files.
    // Each engine and each transport is loaded only when it runs: the embedded default does not hold pg or MQTT.js in memory (README §Performance).
    const store: Store = config.DATABASE_URL
      ? await (await import('./store/postgres/postgres-store.ts')).openPostgresStore(
          config.DATABASE_URL,
          { maxRecords: config.MAX_RECORDS, ...policy },
          { log, onCommit: observeCommit },
        )
      : await (await import('./store/sqlite/sqlite-store.ts')).openSqliteStore(
          { dataDir: config.DATA_DIR, sync: config.SQLITE_SYNC, maxRecords: config.MAX_RECORDS, ...policy },
          {
            log,
            onFatal: (err) => {
              log.fatal({ err: err.message }, 'database writer failed');
              onFatal(err);
            },
            heapMb: writerHeapMb,
            onCommit: observeCommit,
          },
        );
    stops.push({ name: 'database', stop: () => store.close() });
    checkpoint();
    // DEFAULT_DEVICE is a terminal the site relies on: known (and subscribed) from the start like DEVICES.
    const devices = [...new Set([...config.DEVICES, ...(config.DEFAULT_DEVICE ? [config.DEFAULT_DEVICE] : [])])];
    if (devices.length > 0) await store.write({ kind: 'register', serials: devices });

    // README §Running several replicas: with a database and a broker shared, the slot leases divide the work and the replicas wake each other.
    const clientId = config.MQTT_URL ? loadClientId(config.MQTT_CLIENT_ID, config.DATA_DIR, upgrading) : undefined;
    const plan =
      clientId === undefined
        ? undefined
        : slotPlan({ slots: config.MQTT_SLOTS, shareGroup: config.MQTT_SHARE_GROUP, clientId, databaseUrl: config.DATABASE_URL, replica, log });
    const clustered =
      plan && config.DATABASE_URL
        ? (await import('./cluster/pg-cluster.ts')).pgCluster({
            url: config.DATABASE_URL,
            group: plan.group,
            slots: config.MQTT_SLOTS,
            leases: plan.leases,
            replica,
            log,
          })
        : undefined;
    const cluster: Cluster = clustered ?? localCluster(replica);
    announce = (wake) => cluster.announce(wake);
    await cluster.start();
    stops.push({ name: 'cluster notifications', stop: () => cluster.stop() });
    checkpoint();

    const endpoints = createEndpoints(store, stored, () => cluster.announce({ kind: 'endpoints' }));
    // The endpoint of WEBHOOK_URL, kept in the store like any other so its deliveries survive restarts.
    await endpoints.configureDefault(config.WEBHOOK_URL, config.WEBHOOK_SECRET);
    checkpoint();
    metrics.sources.outbox = () => store.outboxDepth();

    // README §Commands with replies: a command queued without a ttl by a process that is gone is never sent late. Alone (SQLite),
    // every queued row is a dead process's; in a cluster, those of the replicas holding no membership lock (and again as one goes).
    const interruptDead = async () => {
      const interrupted = await store.write({ kind: 'commands-interrupted', live: cluster.live });
      if (interrupted.failed > 0)
        log.warn({ count: interrupted.failed }, 'commands queued without a ttl by a bridge that stopped: failed (interrupted), not sent');
    };
    await interruptDead();

    const known = await storedTerminals(store, log);
    checkpoint();
    // Set once the commands exist (after the transport): a terminal back online gets what waited for it.
    let cameOnline: (sn: string) => void = () => {};
    const presence: Presence = createPresence({
      timeoutMs: config.HEARTBEAT_TIMEOUT * 1000,
      initial: known,
      leads: cluster.leads,
      write: (job) => {
        const written =
          job.kind === 'presence'
            ? store.write(job).then(({ events }) => {
                if (events.length === 0) return;
                // This replica's flips are the ones stored: the others' views follow.
                for (const e of events) cluster.announce({ kind: 'presence', sn: e.deviceSn, online: e.type === 'device.online', at: e.receivedAt });
                stored(events);
              })
            : store.write(job);
        if (job.kind === 'seen') cluster.announce({ kind: 'seen', serials: job.lastSeen.map(([sn]) => sn), at: Date.now() });
        // After the job is queued: what the terminal's turn writes finds its row (a new terminal's people rows, README §People on the terminals).
        if (job.kind === 'presence') for (const flip of job.flips) if (flip.online) cameOnline(flip.sn);
        return written.catch((err: Error) => log.error({ err: err.message }, 'presence not stored'));
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
    let people: PeopleSync | undefined;
    // README §Running several replicas: a reply faster than the record of its command's publish is held for it, not lost.
    const held = createHeldReplies();
    // Its replica lost PostgreSQL: its slots are closed, and what they held unacknowledged comes again to whoever takes them.
    cluster.onLost(() => held.releaseAll('PostgreSQL lost: a held reply is left unacknowledged'));
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
      replied: (replied) => {
        commands?.replied(replied);
        people?.replied(replied);
        cluster.announce({ kind: 'reply', commandId: replied.commandId });
      },
      publishing: (sn) => commands?.unrecorded(sn),
      heard: (sn) => commands?.heard(sn),
      held,
    });

    const budget = connectionBudget(config.MAX_CONNECTIONS, openFileLimit(), !config.MQTT_URL);
    if (budget.fileLimit !== undefined) warnFileLimit(log, budget, config.MAX_CONNECTIONS);

    let brokerPort: number | undefined;
    let brokerTlsPort: number | undefined;
    // Before either transport writes its first packet.
    writeNumbersUncached();
    if (config.MQTT_URL) {
      transport = await (await import('./transport/external.ts')).startExternalClient({
        url: config.MQTT_URL,
        username: config.MQTT_USERNAME,
        password: config.MQTT_PASSWORD,
        clientId: clientId ?? '',
        ca: config.MQTT_CA ? readFileSync(config.MQTT_CA) : undefined,
        uplink,
        downlink,
        // README §Running several replicas: the slots of a shared subscription, or the single client.
        slots: plan && clustered ? { group: plan.group, leases: clustered.leases } : plan,
        discovery: config.DISCOVERY,
        serials: devices,
        listed: known.filter((t) => t.registered).map((t) => t.sn),
        maxPayload: config.MAX_PAYLOAD,
        ingest,
        registry: metrics.registry,
        log,
      });
    } else {
      const embedded = await import('./transport/embedded.ts');
      const broker = await embedded.startEmbeddedBroker({
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
        readAheadBytes: config.DATABASE_URL ? embedded.POSTGRES_READ_AHEAD : undefined,
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
    // Before the MQTT stop, which waits for every message in hand: a held reply goes back unacknowledged, the broker sends it again.
    stops.push({ name: 'held replies', stop: () => held.stop() });
    checkpoint();
    // README §Broker settings you must set: whether the site's broker drops what it queued, found at start and watched.
    let brokerWarnings = (): string[] => [];
    if (config.MQTT_URL && config.BROKER_PROBE) {
      const drops = (await import('./transport/broker-drops.ts')).watchBrokerDrops({
        url: config.MQTT_URL,
        username: config.MQTT_USERNAME,
        password: config.MQTT_PASSWORD,
        ca: config.MQTT_CA ? readFileSync(config.MQTT_CA) : undefined,
        registry: metrics.registry,
        log,
        report: (found) =>
          void store
            .write({ kind: 'broker-drops', ...found, at: Date.now() })
            .then(({ events }) => stored(events))
            .catch((err: Error) => log.error({ err: err.message }, 'broker drops not stored')),
      });
      drops.start();
      brokerWarnings = drops.warnings;
      stops.push({ name: 'broker drops watch', stop: () => drops.stop() });
    }

    const token = createAdminToken(config.ADMIN_TOKEN, config.DATA_DIR, log);
    adminToken = token;
    if (token.created) {
      // Shown once, on the terminal that started the first run; never logged again.
      process.stderr.write(`\nfacegate: generated an admin token (kept in ${token.created.file}):\n\n  ${token.created.token}\n\n`);
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
      stored,
      owns: cluster.owns,
      slotChanges: cluster.slotChanges,
    });
    const sending = createCommands({
      transport,
      downlink,
      presence,
      store,
      metrics,
      log,
      rate: config.COMMAND_RATE,
      replyField: config.REPLY_FIELD,
      cluster,
      held,
    });
    commands = sending;
    // README §People on the terminals: each terminal's people in step, through the command queue.
    const syncing = createPeopleSync({ store, online: sending.online, dispatch: sending.wake, metrics, log, cluster });
    people = syncing;
    cameOnline = (sn) => {
      sending.reachable(sn);
      syncing.wake(sn);
    };
    mqtt.onListening((topic) => {
      const sn = topic === undefined ? undefined : downlink.serialOf(topic);
      if (topic === undefined) void syncing.wakeDue();
      else if (sn !== undefined) syncing.wake(sn);
    });
    metrics.sources.commandsQueued = () => store.queuedCount();
    metrics.sources.people = () => store.peopleCount();
    metrics.sources.personSync = () => store.personSyncCounts();
    stops.push({ name: 'commands', stop: () => sending.stop() });
    stops.push({ name: 'people', stop: () => syncing.stop() });
    const sweep = startCommandSweep({ store, metrics, log, stored, unansweredPeople: syncing.unanswered, leads: cluster.leads });
    stops.push({ name: 'command sweep', stop: () => sweep.stop() });
    const hub = createStreamHub(store);
    endStreams = () => hub.closeAll();
    metrics.sources.streamClients = () => hub.size;
    metrics.sources.ready = () => mqtt.connected() && store.healthy;
    // README §Tokens and roles: the named tokens, held in memory, checked on every request.
    const callers = createCallers(store, token.current);
    await callers.load();
    const app = createApp({
      callers,
      hub,
      streamPingMs,
      streamMaxBufferedBytes,
      adminToken: token.current,
      bodyLimit: config.BODY_LIMIT,
      commands: sending,
      people: syncing,
      presence,
      store,
      endpoints,
      delivery,
      log,
      defaultDevice: config.DEFAULT_DEVICE,
      devices: config.DEVICES,
      maxTerminals: config.MAX_TERMINALS,
      metrics,
      ready: metrics.sources.ready,
      warnings: () => brokerWarnings(),
      slots: mqtt.slots,
      broker: config.MQTT_URL ? 'external' : 'embedded',
      startedAt,
    });
    const server = await serveHttp(app.fetch, { port: config.PORT, hostname: config.HOST, maxConnections: budget.http }, log);
    stops.push({ name: 'http', stop: () => server.close() });
    stops.push({ name: 'live streams', stop: () => hub.closeAll() });
    const unpublish = onStored(hub.publish);
    stops.push({ name: 'stream hub', stop: unpublish });
    const httpPort = server.port;
    checkpoint();

    const retention = startRetention({
      days: config.RETENTION_DAYS,
      forgetAfterMs: config.FORGET_AFTER,
      forgotten: presence.forgetSilent,
      store,
      log,
      everyMs: retentionEveryMs,
      leads: cluster.leads,
    });
    stops.push({ name: 'retention', stop: () => retention.stop() });

    await delivery.start();
    // What waited in the queue goes out as its terminals are reachable.
    await sending.start();
    await syncing.wakeDue();
    const unsubscribe = onStored(delivery.wake);
    cluster.onWake((wake) => heardElsewhere(wake, { presence, sending, syncing, endpoints, store, held }));
    // A replica gone: the commands it accepted and nobody sent yet are never sent late (README §Commands with replies); a person's row is due again.
    cluster.onReplicaGone(() => {
      interruptDead()
        .then(() => syncing.wakeDue())
        .catch((err: Error) => log.error({ err: err.message }, 'commands of a replica gone not failed'));
    });
    // A slot came here, or notifications were missed: the work of this replica's slots is read again from the tables;
    // after missed notifications the terminals' states too (a flip stored elsewhere meanwhile was told to nobody here).
    cluster.onMoved((why) => {
      if (why === 'missed') presence.reread(() => store.terminals()).catch((err: Error) => log.error({ err: err.message }, 'terminals not read'));
      delivery.wakeAll();
      sending.start().catch((err: Error) => log.error({ err: err.message }, 'queued commands not read'));
      void syncing.wakeDue();
    });
    stops.push({
      name: 'delivery',
      stop: () => {
        unsubscribe();
        return delivery.stop();
      },
    });
    checkpoint();
    // README §Operators: the zone the terminals are told their local time in (heartD), said where an installer looks first.
    const zone = siteZone();
    log.info(
      { port: httpPort, broker: config.MQTT_URL ? 'external' : 'embedded', version: VERSION, timeZone: zone.timeZone, utcOffset: zone.utcOffset },
      'facegate started',
    );
    // README §Quick start: a door system on a Node.js without security fixes is said at every start.
    const runtime = runtimeWarning();
    if (runtime) log.warn({ node: process.version }, runtime);
    // What the start grew and no longer needs goes back now, not ~100 s later (src/lib/settle-heap.ts); after the
    // caller has heard that the bridge runs.
    setImmediate(settleHeap);
    running = { httpPort, brokerPort, brokerTlsPort, adminToken: token.current() };
    return running;
  }

  function onStored(listener: (events: StoredEvent[]) => void) {
    listeners.add(listener);
    return () => listeners.delete(listener);
  }

  /** Committed here: this replica's parts, then the others (README §Running several replicas). */
  function stored(events: StoredEvent[]) {
    for (const event of events) {
      metrics.events.inc({ type: event.type });
      if (event.type === 'person.synced') metrics.personSync.inc({ outcome: 'synced' });
      else if (event.type === 'person.sync_failed') metrics.personSync.inc({ outcome: 'failed' });
    }
    for (const listener of listeners) listener(events);
    announce({ kind: 'events', events });
  }

  /** What another replica announced: this one's parts follow, from the tables. */
  function heardElsewhere(
    wake: Wake,
    parts: {
      presence: Presence;
      sending: Commands;
      syncing: PeopleSync;
      endpoints: { changedElsewhere(): Promise<void> };
      store: Store;
      held: HeldReplies;
    },
  ) {
    switch (wake.kind) {
      case 'events':
        // The live stream and the delivery lanes; counted in metrics where stored.
        for (const listener of listeners) listener(wake.events);
        return;
      case 'command':
        parts.sending.drainHere(wake.sn);
        parts.syncing.turnHere(wake.sn);
        return;
      case 'reply':
        // Read from the table: a `wait` here gets the reply stored there.
        void parts.store
          .command(wake.commandId)
          .then((c) => {
            if (c?.reply == null || c.publishedAt === null || c.repliedAt === null) return;
            parts.sending.answered({ commandId: c.id, sn: c.deviceSn, cmd: c.cmd, publishedAt: c.publishedAt, repliedAt: c.repliedAt, reply: c.reply });
          })
          .catch((err: Error) => log.error({ err: err.message }, 'reply not read'));
        return;
      case 'presence':
        parts.presence.learn(wake.sn, wake.online, wake.at);
        if (wake.online) {
          parts.sending.drainHere(wake.sn);
          parts.syncing.turnHere(wake.sn);
        }
        return;
      case 'seen':
        parts.presence.heardElsewhere(wake.serials, wake.at);
        // Commands that wait for a word from a terminal (after a broker reconnect) go out when another replica heard it.
        for (const sn of wake.serials) parts.sending.heard(sn);
        return;
      case 'endpoints':
        parts.endpoints.changedElsewhere().catch((err: Error) => log.error({ err: err.message }, 'endpoints not read'));
        return;
      case 'published':
        // A reply held here for one of these publishes pairs now.
        parts.held.published(wake.serials);
        return;
    }
  }

  async function stop(): Promise<void> {
    stopRequested = true;
    // A start under way goes on to its next checkpoint, then fails with StartAborted: what it started is in `stops` by then.
    await starting?.catch(() => {});
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

  /** SIGHUP (README §Rotating the admin token): sessions signed with the old token, and live streams opened with it, end. */
  function reloadToken(): boolean {
    if (!running || !adminToken?.reload()) return false;
    log.warn('admin token changed: the token file was read again; live streams end and reconnect with the new one');
    endStreams?.();
    return true;
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
