import { execFile } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, describe, expect, it } from 'vitest';
import { makeTempDir, removeTempDir } from '../../src/kit/temp-dir.ts';
import { alertRules, dashboard, metricNamer } from '../../src/ops/dashboard.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// README §Dashboards and alerts: every expression of the dashboard and of the
// alert rules names a metric that a running bridge exports, and Prometheus'
// own checker (promtool, from Debian's prometheus package: .ci/run installs
// it) takes the rules and every dashboard expression.

let bridge: TestBridge | undefined;

afterEach(async () => {
  await bridge?.stop();
  bridge = undefined;
});

const NAME = /\b(?:facegate|process|nodejs)_[a-z0-9_]+\b/g;

describe('the dashboard and the alert rules', () => {
  it('name only metrics the bridge exports', async () => {
    bridge = await startBridge();
    const scrape = await (await fetch(`http://127.0.0.1:${bridge.httpPort}/metrics`)).text();
    const exported = new Set([...scrape.matchAll(/^# TYPE (\S+) /gm)].map((match) => match[1]));
    expect(exported.has('facegate_build_info')).toBe(true);
    expect(scrape).toMatch(/^facegate_ready 1$/m);

    const board = dashboard() as { panels: { targets: { expr: string }[] }[] };
    const expressions = [...board.panels.flatMap((panel) => panel.targets.map((target) => target.expr)), ...alertRules().matchAll(/^ {8}expr: (.*)$/gm)].map(
      (e) => (typeof e === 'string' ? e : (JSON.parse(e[1]) as string)),
    );
    expect(expressions.length).toBeGreaterThan(20);
    const named = new Set(expressions.flatMap((expr) => expr.match(NAME) ?? []));
    for (const name of named) expect(exported.has(name) || exported.has(name.replace(/_(bucket|sum|count)$/, '')), name).toBe(true);
    expect(() => metricNamer(exported)('facegate_nothing_total')).toThrow(/no metric facegate_nothing_total/);
  });

  it('pass promtool check rules: the alert rules as printed, and each dashboard expression as a recording rule', async () => {
    const dir = makeTempDir('facegate-rules-');
    try {
      const rules = join(dir, 'alerts.yml');
      writeFileSync(rules, alertRules());
      const board = dashboard() as { panels: { targets: { expr: string }[] }[] };
      // Grafana puts the interval in for $__rate_interval; any valid range stands for it here.
      const recorded = board.panels
        .flatMap((panel) => panel.targets.map((target) => target.expr.replaceAll('$__rate_interval', '5m')))
        .map((expr, n) => `      - record: facegate_dashboard_check_${n}\n        expr: ${JSON.stringify(expr)}\n`);
      const panels = join(dir, 'dashboard.yml');
      writeFileSync(panels, `groups:\n  - name: dashboard\n    rules:\n${recorded.join('')}`);
      const { stdout } = await promisify(execFile)('promtool', ['check', 'rules', rules, panels]);
      const found = [...stdout.matchAll(/SUCCESS: (\d+) rules found/g)].map((match) => Number(match[1]));
      expect(found).toEqual([alertRules().match(/^ {6}- alert: /gm)?.length, recorded.length]);
    } finally {
      removeTempDir(dir);
    }
  });
});
