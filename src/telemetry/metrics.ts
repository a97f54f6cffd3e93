import { collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { Db } from '../db/index.js';
import { alertCounts } from '../db/alerts.js';
import { listHealth } from '../db/mail-events.js';
import { reconcileState } from '../db/reconcile.js';
import { relayHealth } from '../db/relay-health.js';
import { overdueLifts, releasesByStatus } from '../db/releases.js';
import { deliveriesByState } from '../db/deliveries.js';
import { type AlertState } from '../db/schema.js';
import { DELIVERY_STATES, RELEASE_STATUSES } from '../states.js';
import { webhookDeliveryCounts } from '../db/webhooks.js';
import type { Queues } from '../queue/index.js';
import { sendingPaused } from '../controls/pause.js';

// BullMQ 6 keeps a paused queue's jobs in 'waiting' (the pause is a flag), so there is no paused count.
export const QUEUE_STATES = ['waiting', 'delayed', 'active', 'failed'] as const;
/** A lift counts as overdue this long after its send instant (the lift itself logs a late one from 5 s). */
const OVERDUE_GRACE_SECONDS = 5;
const ALERT_STATES: AlertState[] = ['pending', 'sent', 'held', 'failed'];
const WEBHOOK_STATES = ['pending', 'delivered', 'failed'] as const;

/**
 * One process's Prometheus registry, and the histograms the pipeline observes. Labels are ids or states, never text.
 */
export interface Metrics {
  registry: Registry;
  /** How long one SMTP hand-off took, by outcome. */
  smtpSendSeconds: Histogram<'outcome'>;
  /**
   * Send instant (the embargo, or an earlier lift) → first accepted copy, observed once per release by the worker that
   * completes it.
   */
  firstSendLagSeconds: Histogram;
  /** Send instant → last accepted copy. */
  lastSendLagSeconds: Histogram;
}

/**
 * Process metrics and histograms are this process's own. Deliveries, releases and queue depths
 * are cluster-wide: they are read from PostgreSQL and Redis at scrape time, so every process
 * reports the same numbers (aggregate them with max(), not sum()).
 */
export function createMetrics(db: Db, queues: Queues, complaintWarning = 0.001): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry, prefix: 'presslift_' });
  const registers = [registry];

  /** A gauge of row counts by one column, with every known value present (0 when there is none). */
  const countsGauge = <T extends string>(
    name: string,
    help: string,
    label: string,
    values: readonly T[],
    count: () => Promise<Array<{ key: T; n: number }>>,
  ) =>
    new Gauge({
      name,
      help,
      labelNames: [label],
      registers,
      async collect() {
        const rows = await count();
        for (const value of values) this.set({ [label]: value }, Number(rows.find((r) => r.key === value)?.n ?? 0));
      },
    });
  countsGauge(
    'presslift_deliveries',
    'Deliveries by state, across all releases (from PostgreSQL)',
    'state',
    DELIVERY_STATES,
    () => deliveriesByState(db),
  );
  countsGauge(
    'presslift_alerts',
    'Staff alerts by state (from PostgreSQL)',
    'state',
    ALERT_STATES,
    () => alertCounts(db) as Promise<Array<{ key: AlertState; n: number }>>,
  );
  countsGauge(
    'presslift_webhook_deliveries',
    'Integration webhook deliveries by state, kept 90 days (from PostgreSQL)',
    'state',
    WEBHOOK_STATES,
    () => webhookDeliveryCounts(db) as Promise<Array<{ key: (typeof WEBHOOK_STATES)[number]; n: number }>>,
  );
  countsGauge('presslift_releases', 'Releases by status (from PostgreSQL)', 'status', RELEASE_STATUSES, () =>
    releasesByStatus(db),
  );
  new Gauge({
    name: 'presslift_queue_jobs',
    help: 'BullMQ jobs by queue and state (from Redis)',
    labelNames: ['queue', 'state'],
    registers,
    async collect() {
      for (const queue of [queues.lift, queues.send, queues.webhook]) {
        const counts = await queue.getJobCounts(...QUEUE_STATES);
        for (const state of QUEUE_STATES) this.set({ queue: queue.name, state }, counts[state] ?? 0);
      }
    },
  });
  // Each list's rates over the deliveries of the last 30 days: one query serves the three gauges of a scrape.
  let health: { at: number; rows: ReturnType<typeof listHealth> } | null = null;
  const healthOnce = () => {
    if (!health || Date.now() - health.at > 1000) health = { at: Date.now(), rows: listHealth(db) };
    return health.rows;
  };
  new Gauge({
    name: 'presslift_list_bounce_rate',
    help: 'Per list: bounced or refused deliveries / deliveries attempted, over the last 30 days (from PostgreSQL)',
    labelNames: ['list'],
    registers,
    async collect() {
      for (const h of await healthOnce()) this.set({ list: String(h.listId) }, h.bounceRate);
    },
  });
  new Gauge({
    name: 'presslift_list_complaint_rate',
    help: 'Per list: complaints / deliveries attempted, over the last 30 days (from PostgreSQL); Gmail and Yahoo act at 0.003',
    labelNames: ['list'],
    registers,
    async collect() {
      for (const h of await healthOnce()) this.set({ list: String(h.listId) }, h.complaintRate);
    },
  });
  new Gauge({
    name: 'presslift_lists_complaint_rate_high',
    help: 'Lists whose 30-day complaint rate is above COMPLAINT_RATE_WARNING (alert when > 0)',
    registers,
    async collect() {
      this.set((await healthOnce()).filter((h) => h.complaintRate > complaintWarning).length);
    },
  });
  new Gauge({
    name: 'presslift_sending_paused',
    help: '1 while an operator has paused all sending (from PostgreSQL)',
    registers,
    async collect() {
      this.set((await sendingPaused(db)) ? 1 : 0);
    },
  });

  new Gauge({
    name: 'presslift_lifts_overdue',
    help: `Releases not lifted (or whose fan-out has not finished) more than ${OVERDUE_GRACE_SECONDS} s after their send instant (from PostgreSQL)`,
    registers,
    async collect() {
      this.set((await overdueLifts(db, OVERDUE_GRACE_SECONDS)).length);
    },
  });
  // What the standing sweep found, kept in PostgreSQL by whichever process led it.
  new Gauge({
    name: 'presslift_deliveries_without_job',
    help: 'Due deliveries no live send job pointed at when the last sweep looked (it restored them)',
    registers,
    async collect() {
      this.set((await reconcileState(db)).deliveries_without_job);
    },
  });
  new Gauge({
    name: 'presslift_reconcile_last_success_timestamp_seconds',
    help: 'When the standing sweep last completed every step (Unix time; 0 if never)',
    registers,
    async collect() {
      this.set(((await reconcileState(db)).last_success_at?.getTime() ?? 0) / 1000);
    },
  });
  new Gauge({
    name: 'presslift_reconcile_restored_jobs',
    help: 'Jobs the sweep has restored because Redis lacked them, by queue, since the database was created (only grows)',
    labelNames: ['queue'],
    registers,
    async collect() {
      const state = await reconcileState(db);
      this.set({ queue: 'lift' }, state.restored_lift_jobs_total);
      this.set({ queue: 'send' }, state.restored_send_jobs_total);
    },
  });
  new Gauge({
    name: 'presslift_relay_refusing_seconds',
    help: 'How long the relay has refused every message, from its first refusal after an acceptance to its latest (0 while it accepts)',
    registers,
    async collect() {
      const relay = await relayHealth(db);
      this.set(
        relay.refusing_since && relay.last_refused_at
          ? (relay.last_refused_at.getTime() - relay.refusing_since.getTime()) / 1000
          : 0,
      );
    },
  });

  // Lags run from milliseconds (warm lift) to hours (a pause held through an embargo).
  const lagBuckets = [0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600, 14_400];
  return {
    registry,
    smtpSendSeconds: new Histogram({
      name: 'presslift_smtp_send_duration_seconds',
      help: 'Time to hand one message to the SMTP relay, by outcome (sent, refused)',
      labelNames: ['outcome'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    }),
    firstSendLagSeconds: new Histogram({
      name: 'presslift_lift_first_send_lag_seconds',
      help: 'Per release: send instant (embargo, or an earlier lift) to the first accepted copy',
      buckets: lagBuckets,
      registers,
    }),
    lastSendLagSeconds: new Histogram({
      name: 'presslift_lift_last_send_lag_seconds',
      help: 'Per release: send instant (embargo, or an earlier lift) to the last accepted copy',
      buckets: lagBuckets,
      registers,
    }),
  };
}
