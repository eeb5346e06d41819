import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import { VERSION } from './version.ts';

/** The bridge's counters (README §GET /healthz, GET /readyz, GET /metrics), on a registry of its own so several bridges can share a process in tests. */
export function createMetrics() {
  const registry = new Registry();
  // The process's own figures too (CPU, memory, event loop lag, handles).
  collectDefaultMetrics({ register: registry });
  // Read at scrape time from whoever knows (presence), set once it exists.
  const sources = {
    terminalsOnline: () => 0,
    terminalsKnown: () => 0,
    streamClients: () => 0,
    outbox: async (): Promise<{ endpointId: string; pending: number }[]> => [],
    commandsQueued: async () => 0,
    ready: () => false,
    people: async () => 0,
    personSync: async (): Promise<{ status: string; count: number }[]> => [],
  };
  const buildInfo = new Gauge({
    name: 'facegate_build_info',
    help: 'always 1; the version of facegate and of Node.js running, as labels',
    labelNames: ['version', 'node'],
    registers: [registry],
  });
  buildInfo.set({ version: VERSION, node: process.version }, 1);
  return {
    registry,
    sources,
    buildInfo,
    ready: new Gauge({
      name: 'facegate_ready',
      help: '1 while GET /readyz answers ready (database writable, broker connected), else 0',
      registers: [registry],
      collect() {
        this.set(sources.ready() ? 1 : 0);
      },
    }),
    messagesIn: new Counter({ name: 'facegate_messages_in_total', help: 'upLink messages received, by cmd', labelNames: ['cmd'], registers: [registry] }),
    ignored: new Counter({ name: 'facegate_messages_ignored_total', help: 'messages on subscribed topics that are no terminal upLink', registers: [registry] }),
    rejected: new Counter({
      name: 'facegate_messages_rejected_total',
      help: 'malformed upLink messages (and malformed records of messages whose other records were stored), by reason',
      labelNames: ['reason'],
      registers: [registry],
    }),
    rejectsNotKept: new Counter({
      name: 'facegate_rejects_not_kept_total',
      help: 'rejects counted in facegate_messages_rejected_total but not kept as rows: over the rate a terminal may fill the rejects table at',
      registers: [registry],
    }),
    events: new Counter({ name: 'facegate_events_total', help: 'events stored, by type', labelNames: ['type'], registers: [registry] }),
    commands: new Counter({
      name: 'facegate_commands_total',
      help: 'commands to terminals, by the state each reached (queued, published, replied, unanswered, expired, failed) or rate_limited',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    repliesHeld: new Counter({
      name: 'facegate_replies_held_total',
      help: 'replies held back for the record of their command publish (README Running several replicas): each hold, again counted when held again',
      registers: [registry],
    }),
    commandReply: new Histogram({
      name: 'facegate_command_reply_seconds',
      help: 'from a command published (the broker acknowledged it) to its reply committed',
      buckets: [0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60],
      registers: [registry],
    }),
    commandsQueued: new Gauge({
      name: 'facegate_commands_queued',
      help: 'commands queued: waiting for their terminal (ttl) or their turn',
      registers: [registry],
      async collect() {
        this.set(await sources.commandsQueued());
      },
    }),
    // README §People on the terminals.
    people: new Gauge({
      name: 'facegate_people',
      help: 'people enrolled (not deleted)',
      registers: [registry],
      async collect() {
        this.set(await sources.people());
      },
    }),
    personSyncRows: new Gauge({
      name: 'facegate_person_sync',
      help: 'people on terminals, by sync state (pending, sent, applied, failed)',
      labelNames: ['status'],
      registers: [registry],
      async collect() {
        const counts = await sources.personSync();
        this.reset();
        for (const status of ['pending', 'sent', 'applied', 'failed']) this.set({ status }, counts.find((c) => c.status === status)?.count ?? 0);
      },
    }),
    personSync: new Counter({
      name: 'facegate_person_sync_total',
      help: 'person commands made (queued) and what came of them: synced (a person on every targeted terminal), failed (a terminal refused), unanswered',
      labelNames: ['outcome'],
      registers: [registry],
    }),
    deliveryAttempts: new Counter({
      name: 'facegate_delivery_attempts_total',
      help: 'webhook delivery attempts, by endpoint and outcome (delivered, retry, dead, gone)',
      // Endpoints are at most ENDPOINT_LIMIT: the label's values stay few.
      labelNames: ['endpoint', 'outcome'],
      registers: [registry],
    }),
    commitSeconds: new Histogram({
      name: 'facegate_commit_seconds',
      help: 'time to commit one batch of writes (group commit), from its sending to its answer; every acknowledgement waits for one',
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10],
      registers: [registry],
    }),
    deliveryLatency: new Histogram({
      name: 'facegate_delivery_latency_seconds',
      help: 'from the event reaching the bridge to its webhook answered 2xx',
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600, 86400],
      registers: [registry],
    }),
    alertDigests: new Counter({
      name: 'facegate_alert_digests_total',
      help: 'chat app messages that combined several alerts into one digest, by endpoint',
      labelNames: ['endpoint'],
      registers: [registry],
    }),
    alertThrottled: new Counter({
      name: 'facegate_alert_throttled_total',
      help: 'answers of a chat app that its robot posts too often (a throttle code or 429), by endpoint',
      labelNames: ['endpoint'],
      registers: [registry],
    }),
    outboxDepth: new Gauge({
      name: 'facegate_outbox_depth',
      help: 'deliveries waiting, by endpoint',
      labelNames: ['endpoint'],
      registers: [registry],
      async collect() {
        const depth = await sources.outbox();
        this.reset();
        for (const { endpointId, pending } of depth) this.set({ endpoint: endpointId }, pending);
      },
    }),
    uncommitted: new Gauge({
      name: 'facegate_messages_uncommitted',
      help: 'upLink messages received and waiting for their commit (not acknowledged yet)',
      registers: [registry],
    }),
    terminalsOnline: new Gauge({
      name: 'facegate_terminals_online',
      help: 'terminals currently online',
      registers: [registry],
      collect() {
        this.set(sources.terminalsOnline());
      },
    }),
    terminalsKnown: new Gauge({
      name: 'facegate_terminals_known',
      help: 'terminals the bridge knows (stored and registered), at most MAX_TERMINALS',
      registers: [registry],
      collect() {
        this.set(sources.terminalsKnown());
      },
    }),
    streamClients: new Gauge({
      name: 'facegate_stream_clients',
      help: 'clients reading the live stream (GET /api/stream)',
      registers: [registry],
      collect() {
        this.set(sources.streamClients());
      },
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
