import { afterEach, describe, expect, it } from 'vitest';
import { alertRules, dashboard, metricNamer } from '../../src/ops/dashboard.ts';
import { startBridge, type TestBridge } from '../support/bridge.ts';

// README §Dashboards and alerts: every expression of the dashboard and of the
// alert rules names a metric that a running bridge exports.

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
});
