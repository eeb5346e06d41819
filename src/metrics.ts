import { Counter, Gauge, Registry } from 'prom-client';

/** The bridge's counters (SPEC §HTTP API, /metrics), on a registry of its own so several bridges can share a process in tests. */
export function createMetrics() {
  const registry = new Registry();
  // Read at scrape time from whoever knows (presence), set once it exists.
  const sources = { terminalsOnline: () => 0 };
  return {
    registry,
    sources,
    messagesIn: new Counter({ name: 'facegate_messages_in_total', help: 'upLink messages received, by cmd', labelNames: ['cmd'], registers: [registry] }),
    ignored: new Counter({ name: 'facegate_messages_ignored_total', help: 'messages on subscribed topics that are no terminal upLink', registers: [registry] }),
    rejected: new Counter({ name: 'facegate_messages_rejected_total', help: 'malformed upLink messages, by reason', labelNames: ['reason'], registers: [registry] }),
    events: new Counter({ name: 'facegate_events_total', help: 'events stored, by type', labelNames: ['type'], registers: [registry] }),
    commands: new Counter({ name: 'facegate_commands_total', help: 'commands sent to terminals, by outcome', labelNames: ['outcome'], registers: [registry] }),
    terminalsOnline: new Gauge({
      name: 'facegate_terminals_online',
      help: 'terminals currently online',
      registers: [registry],
      collect() {
        this.set(sources.terminalsOnline());
      },
    }),
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
