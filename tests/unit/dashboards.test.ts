import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Db } from '../../src/db/index.js';
import { createMetrics } from '../../src/telemetry/metrics.js';
import type { Queues } from '../../src/queue/index.js';

const RULES = 'ops/prometheus/alerts.yml';
const DASHBOARD = 'ops/grafana/presslift.json';

/** Every series name Presslift's registry exposes, histograms with their _bucket, _sum and _count series. */
function exposedNames(): Set<string> {
  // Collection is never run here, so the registry needs neither PostgreSQL nor Redis.
  const { registry } = createMetrics({} as Db, {} as Queues);
  const names = new Set<string>();
  for (const metric of registry.getMetricsAsArray()) {
    const { name, type } = metric as unknown as { name: string; type: string };
    names.add(name);
    if (type === 'histogram') for (const suffix of ['_bucket', '_sum', '_count']) names.add(`${name}${suffix}`);
  }
  return names;
}

const ruleExpressions = () => [...readFileSync(RULES, 'utf8').matchAll(/^\s*expr:\s*(.+)$/gm)].map((m) => m[1]!);
const dashboardExpressions = () =>
  (
    JSON.parse(readFileSync(DASHBOARD, 'utf8')) as { panels: Array<{ targets: Array<{ expr: string }> }> }
  ).panels.flatMap((p) => p.targets.map((t) => t.expr));
const metricNames = (expr: string) => [...expr.matchAll(/\bpresslift_[a-z0-9_]+/g)].map((m) => m[0]);

describe('the alerting rules and the Grafana dashboard', () => {
  it('query only metrics the registry exposes', () => {
    const exposed = exposedNames();
    const expressions = [...ruleExpressions(), ...dashboardExpressions()];
    expect(expressions.length).toBeGreaterThan(20);
    const unknown = expressions.flatMap(metricNames).filter((name) => !exposed.has(name));
    expect(unknown).toEqual([]);
    // The check itself can fail: a misspelt name is caught.
    expect(metricNames('max(presslift_lift_overdue)').filter((name) => !exposed.has(name))).toEqual([
      'presslift_lift_overdue',
    ]);
  });

  it('give every alert a runbook section in the README', () => {
    const readme = readFileSync('README.md', 'utf8');
    const alerts = [...readFileSync(RULES, 'utf8').matchAll(/^\s*- alert:\s*(\w+)$/gm)].map((m) => m[1]!);
    expect(alerts.length).toBeGreaterThan(10);
    for (const alert of alerts) {
      expect(readme, alert).toContain(`#### ${alert}`);
      expect(readFileSync(RULES, 'utf8'), alert).toContain(`README.md#${alert.toLowerCase()}`);
    }
  });

  it('pass promtool check rules', () => {
    const promtool = spawnSync('promtool', ['check', 'rules', RULES], { encoding: 'utf8' });
    // CI installs Debian's prometheus package (.ci/run); a machine without it says so here.
    if (promtool.error)
      throw new Error(`promtool is not installed (apt-get install prometheus): ${promtool.error.message}`);
    expect(promtool.stdout + promtool.stderr).toMatch(/SUCCESS: \d+ rules found/);
    expect(promtool.status).toBe(0);
  });
});
