import { Counter, Gauge, type Registry } from 'prom-client';

/** README §GET /metrics: the embedded broker's connections and the memory its messages hold. */
export function createBrokerMetrics(registry: Registry, read: { connections: () => number; inFlightBytes: () => number }) {
  new Gauge({
    name: 'facegate_broker_connections',
    help: 'MQTT connections open to the embedded broker (plain and TLS)',
    registers: [registry],
    collect() {
      this.set(read.connections());
    },
  });
  inFlightBytesGauge(registry, read.inFlightBytes);
  return {
    refused: new Counter({
      name: 'facegate_broker_connections_refused_total',
      help: 'connections to the embedded broker closed at once: it held its MAX_CONNECTIONS (or what the open-file limit allows)',
      registers: [registry],
    }),
    ended: new Counter({
      name: 'facegate_broker_connections_ended_total',
      help: 'connections the embedded broker ended, by reason: idle (silent too long), too_large (a packet over the size limit), over_budget (the in-flight budget was full)',
      labelNames: ['reason'],
      registers: [registry],
    }),
  };
}

/** Either transport: bytes of upLink messages held in memory until their commit. */
export function inFlightBytesGauge(registry: Registry, read: () => number): void {
  new Gauge({
    name: 'facegate_inflight_bytes',
    help: 'bytes of upLink messages held until their commit: large PUBLISH packets (over 64 KB) on the embedded broker, every unacknowledged payload from an external broker',
    registers: [registry],
    collect() {
      this.set(read());
    },
  });
}
