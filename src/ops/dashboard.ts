import { createMetrics } from '../lib/metrics.ts';
import { createBrokerMetrics } from '../transport/broker-metrics.ts';

// README §Dashboards and alerts: `facegate dashboard` (Grafana) and
// `facegate alert-rules` (Prometheus) are built here from the metrics the
// code defines: every name below is checked against them as it is used, so
// a renamed or removed metric stops the build of the dashboard (and its
// test), never leaves a panel that shows nothing.

/** Every metric the bridge exports: its own, the embedded broker's, and Node's defaults. */
function exported(): Set<string> {
  const registry = createMetrics().registry;
  createBrokerMetrics(registry, { connections: () => 0, inFlightBytes: () => 0 });
  return new Set(registry.getMetricsAsArray().map((metric) => metric.name));
}

/** A metric's name, or a throw when the bridge exports no such metric (histograms by their series: _bucket, _sum, _count). */
export function metricNamer(names = exported()) {
  return (name: string): string => {
    const base = name.replace(/_(bucket|sum|count)$/, '');
    if (!names.has(name) && !names.has(base)) throw new Error(`no metric ${name} is exported`);
    return name;
  };
}

interface Panel {
  title: string;
  unit: string;
  targets: { expr: string; legend: string }[];
}

const RATE = '[$__rate_interval]';

function panels(): Panel[] {
  const m = metricNamer();
  const quantile = (q: number, histogram: string, by = '') =>
    `histogram_quantile(${q}, sum by (le${by ? `, ${by}` : ''}) (rate(${m(`${histogram}_bucket`)}${RATE})))`;
  return [
    { title: 'Ready', unit: 'none', targets: [{ expr: m('facegate_ready'), legend: 'ready' }] },
    {
      title: 'Terminals',
      unit: 'none',
      targets: [
        { expr: m('facegate_terminals_online'), legend: 'online' },
        { expr: m('facegate_terminals_known'), legend: 'known' },
      ],
    },
    { title: 'Messages in', unit: 'ops', targets: [{ expr: `sum by (cmd) (rate(${m('facegate_messages_in_total')}${RATE}))`, legend: '{{cmd}}' }] },
    {
      title: 'Messages rejected',
      unit: 'ops',
      targets: [{ expr: `sum by (reason) (rate(${m('facegate_messages_rejected_total')}${RATE}))`, legend: '{{reason}}' }],
    },
    { title: 'Events stored', unit: 'ops', targets: [{ expr: `sum by (type) (rate(${m('facegate_events_total')}${RATE}))`, legend: '{{type}}' }] },
    { title: 'Waiting for their commit', unit: 'none', targets: [{ expr: m('facegate_messages_uncommitted'), legend: 'messages' }] },
    {
      title: 'Commit time',
      unit: 's',
      targets: [
        { expr: quantile(0.5, 'facegate_commit_seconds'), legend: 'p50' },
        { expr: quantile(0.99, 'facegate_commit_seconds'), legend: 'p99' },
      ],
    },
    {
      title: 'Delivery attempts',
      unit: 'ops',
      targets: [{ expr: `sum by (endpoint, outcome) (rate(${m('facegate_delivery_attempts_total')}${RATE}))`, legend: '{{endpoint}} {{outcome}}' }],
    },
    {
      title: 'Record to webhook',
      unit: 's',
      targets: [
        { expr: quantile(0.5, 'facegate_delivery_latency_seconds'), legend: 'p50' },
        { expr: quantile(0.99, 'facegate_delivery_latency_seconds'), legend: 'p99' },
      ],
    },
    { title: 'Outbox', unit: 'none', targets: [{ expr: `sum by (endpoint) (${m('facegate_outbox_depth')})`, legend: '{{endpoint}}' }] },
    { title: 'Commands', unit: 'ops', targets: [{ expr: `sum by (outcome) (rate(${m('facegate_commands_total')}${RATE}))`, legend: '{{outcome}}' }] },
    {
      title: 'Command replies',
      unit: 's',
      targets: [
        { expr: quantile(0.5, 'facegate_command_reply_seconds'), legend: 'p50' },
        { expr: quantile(0.99, 'facegate_command_reply_seconds'), legend: 'p99' },
      ],
    },
    { title: 'Commands queued', unit: 'none', targets: [{ expr: m('facegate_commands_queued'), legend: 'queued' }] },
    {
      title: 'Broker connections (embedded)',
      unit: 'none',
      targets: [
        { expr: m('facegate_broker_connections'), legend: 'open' },
        { expr: `rate(${m('facegate_broker_connections_refused_total')}${RATE})`, legend: 'refused/s' },
      ],
    },
    { title: 'Live stream clients', unit: 'none', targets: [{ expr: m('facegate_stream_clients'), legend: 'clients' }] },
    {
      title: 'Memory',
      unit: 'bytes',
      targets: [
        { expr: m('process_resident_memory_bytes'), legend: 'resident' },
        { expr: m('facegate_inflight_bytes'), legend: 'messages held' },
      ],
    },
    { title: 'Event loop lag p99', unit: 's', targets: [{ expr: m('nodejs_eventloop_lag_p99_seconds'), legend: 'p99' }] },
  ];
}

const WIDTH = 8;
const HEIGHT = 7;

/** The Grafana dashboard (the dashboard model itself, to import as it is), its Prometheus chosen at import. */
export function dashboard(): Record<string, unknown> {
  // Grafana's variable: the data source chosen at import.
  const datasource = { type: 'prometheus', uid: '$datasource' };
  return {
    title: 'facegate',
    uid: 'facegate',
    tags: ['facegate'],
    timezone: 'browser',
    schemaVersion: 39,
    refresh: '30s',
    time: { from: 'now-6h', to: 'now' },
    templating: { list: [{ name: 'datasource', label: 'Prometheus', type: 'datasource', query: 'prometheus' }] },
    panels: panels().map((panel, i) => ({
      id: i + 1,
      type: 'timeseries',
      title: panel.title,
      datasource,
      gridPos: { x: (i % 3) * WIDTH, y: Math.floor(i / 3) * HEIGHT, w: WIDTH, h: HEIGHT },
      fieldConfig: { defaults: { unit: panel.unit }, overrides: [] },
      targets: panel.targets.map((target, j) => ({ refId: String.fromCharCode(65 + j), datasource, expr: target.expr, legendFormat: target.legend })),
    })),
  };
}

interface Rule {
  alert: string;
  expr: string;
  for: string;
  severity: 'critical' | 'warning';
  summary: string;
}

function rules(): Rule[] {
  const m = metricNamer();
  return [
    {
      alert: 'FacegateNotReady',
      expr: `${m('facegate_ready')} == 0`,
      for: '2m',
      severity: 'critical',
      summary: 'facegate cannot commit or has no broker: terminals are not acknowledged',
    },
    {
      alert: 'FacegateDeliveriesDead',
      expr: `increase(${m('facegate_delivery_attempts_total')}{outcome="dead"}[15m]) > 0`,
      for: '0m',
      severity: 'critical',
      summary: 'webhook deliveries gave up after their last retry',
    },
    {
      alert: 'FacegateOutboxGrowing',
      expr: `sum by (endpoint) (${m('facegate_outbox_depth')}) > 1000`,
      for: '10m',
      severity: 'warning',
      summary: 'deliveries are waiting for endpoint {{ $labels.endpoint }}: its receiver is down or slow',
    },
    {
      alert: 'FacegateTerminalsWentOffline',
      expr: `${m('facegate_terminals_online')} < 0.8 * max_over_time(${m('facegate_terminals_online')}[1h])`,
      for: '5m',
      severity: 'warning',
      summary: 'a fifth or more of the terminals online in the last hour are offline',
    },
    {
      alert: 'FacegateCommitsBehind',
      expr: `${m('facegate_messages_uncommitted')} > 1000`,
      for: '5m',
      severity: 'warning',
      summary: 'messages wait for their commit: the disk cannot keep up',
    },
    {
      alert: 'FacegateCommandsUnanswered',
      expr: `sum(rate(${m('facegate_commands_total')}{outcome="unanswered"}[15m])) > 0.1 * sum(rate(${m('facegate_commands_total')}{outcome="published"}[15m]))`,
      for: '15m',
      severity: 'warning',
      summary: 'more than a tenth of the commands published get no reply',
    },
  ];
}

/** Prometheus alerting rules, as YAML (a rule file's format), the expressions quoted as JSON strings (valid YAML). */
export function alertRules(): string {
  const lines = ['groups:', '  - name: facegate', '    rules:'];
  for (const rule of rules()) {
    lines.push(
      `      - alert: ${rule.alert}`,
      `        expr: ${JSON.stringify(rule.expr)}`,
      `        for: ${rule.for}`,
      '        labels:',
      `          severity: ${rule.severity}`,
      '        annotations:',
      `          summary: ${JSON.stringify(rule.summary)}`,
    );
  }
  return `${lines.join('\n')}\n`;
}
