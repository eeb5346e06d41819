import { Counter, Gauge, type Registry } from 'prom-client';

/** README §GET /metrics: the embedded broker's connections. */
export function createBrokerMetrics(registry: Registry, read: { connections: () => number }) {
  new Gauge({
    name: 'facegate_broker_connections',
    help: 'MQTT connections open to the embedded broker (plain and TLS)',
    registers: [registry],
    collect() {
      this.set(read.connections());
    },
  });
  return {
    refused: new Counter({
      name: 'facegate_broker_connections_refused_total',
      help: 'connections to the embedded broker closed at once: it held its MAX_CONNECTIONS (or what the open-file limit allows)',
      registers: [registry],
    }),
    ended: new Counter({
      name: 'facegate_broker_connections_ended_total',
      help: 'connections the embedded broker ended, by reason: idle (silent too long), too_large (a packet over the size limit)',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}

export type BrokerMetrics = ReturnType<typeof createBrokerMetrics>;

