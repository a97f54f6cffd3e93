import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import type { Config } from '../config.js';
import type { Logger } from '../log.js';
import type { Db } from '../db/index.js';
import {
  alertsSentLastHour,
  dueAlerts,
  holdAlerts,
  markAlertRetry,
  markAlertSent,
  noteAlertChannelSent,
  raiseAlert,
  takeHeldForDigest,
  type Alert,
  type NewAlert,
} from '../db/alerts.js';
import { relayHealth } from '../db/relay-health.js';
import { finishedWithFailures, latelyLifted, overdueLifts } from '../db/releases.js';
import { postJson, succeeded } from '../integrations/http.js';
import type { Mailer } from '../mail/transport.js';
import { pauseState } from '../controls/pause.js';

/** Alerts link to the console and are mailed from the press office's address. */
export interface AlertDeps {
  db: Db;
  config: Config;
  log: Logger;
}

/**
 * Staff alerts: conditions are read from PostgreSQL by the reconcile leader and recorded once per
 * event (the key), then sent by email through Presslift's own mail path and to a Slack or Teams
 * incoming webhook. Every text carries ids, counts and a console link, never a release's words
 * (invariant "embargoed text stays home"), since alerts leave for inboxes and chat rooms at any time, embargo or not.
 */

/** An alert that could not be sent is retried with a doubling backoff (15 s … 1 h) this many times. */
const MAX_ATTEMPTS = 10;
const WEBHOOK_TIMEOUT_MS = 10_000;

const minutes = (seconds: number) => Math.round(seconds / 60);

/** Raises an alert for each late lift, failed release, long pause or refusing relay now visible in PostgreSQL. */
export async function evaluateAlerts(ctx: AlertDeps): Promise<number> {
  const { db, config } = ctx;
  const alerts: NewAlert[] = [];
  // One alert per release version, whether it is still waiting or lifted late.
  for (const lift of await overdueLifts(db, config.LIFT_LATE_ALERT_SECONDS)) {
    alerts.push({
      key: `lift-late:${lift.id}:v${lift.version}`,
      kind: 'lift-late',
      releaseId: lift.id,
      summary: `Release #${lift.id} has not lifted: its send instant passed ${lift.lateSeconds} s ago`,
      details: {
        releaseId: lift.id,
        version: lift.version,
        sendAt: lift.sendAt.toISOString(),
        lateSeconds: lift.lateSeconds,
      },
    });
  }
  for (const lift of await latelyLifted(db, config.LIFT_LATE_ALERT_SECONDS)) {
    alerts.push({
      key: `lift-late:${lift.id}:v${lift.version}`,
      kind: 'lift-late',
      releaseId: lift.id,
      summary: `Release #${lift.id} lifted ${lift.lagSeconds} s after its send instant`,
      details: { releaseId: lift.id, version: lift.version, lagSeconds: lift.lagSeconds },
    });
  }
  for (const release of await finishedWithFailures(db)) {
    alerts.push({
      key: `release-failed:${release.id}:${release.completedAt.getTime()}`,
      kind: 'release-failed',
      releaseId: release.id,
      summary: `Release #${release.id} finished with ${release.failed} failed deliveries of ${release.total}`,
      details: { releaseId: release.id, failed: release.failed, total: release.total },
    });
  }
  const pause = await pauseState(db);
  if (pause.paused && pause.at) {
    const pausedSeconds = (Date.now() - Date.parse(pause.at)) / 1000;
    if (pausedSeconds > config.PAUSED_ALERT_MINUTES * 60) {
      alerts.push({
        key: `paused:${pause.at}`,
        kind: 'sending-paused',
        releaseId: null,
        summary: `Sending has been paused for ${minutes(pausedSeconds)} minutes (by ${pause.by})`,
        details: { pausedAt: pause.at, by: pause.by },
      });
    }
  }
  const relay = await relayHealth(db);
  if (relay.refusing_since && relay.last_refused_at) {
    const refusingSeconds = (relay.last_refused_at.getTime() - relay.refusing_since.getTime()) / 1000;
    if (refusingSeconds > config.RELAY_REFUSING_ALERT_MINUTES * 60) {
      alerts.push({
        key: `relay-refusing:${relay.refusing_since.getTime()}`,
        kind: 'relay-refusing',
        releaseId: null,
        summary: `The mail relay has refused every message for ${minutes(refusingSeconds)} minutes`,
        details: { refusingSince: relay.refusing_since.toISOString(), lastReply: relay.last_reply },
      });
    }
  }
  let raised = 0;
  for (const alert of alerts) if (await raiseAlert(db, alert)) raised += 1;
  return raised;
}

/** A lift job that spent its last attempt: the release stays unsent until reconcile retries it. */
export async function raiseLiftFailed(
  db: Db,
  releaseId: number,
  version: number,
  phase: string,
  error: string,
): Promise<boolean> {
  return raiseAlert(db, {
    key: `lift-failed:${phase}:${releaseId}:v${version}`,
    kind: 'lift-failed',
    releaseId,
    summary: `The ${phase === 'advance' ? 'advance send' : 'lift'} of release #${releaseId} failed for good`,
    // The error of a lift is ours (a database or queue message), never the release's text.
    details: { releaseId, version, phase, error: error.slice(0, 300) },
  });
}

/** Reconcile found jobs missing from Redis and put them back: something lost them. */
export async function raiseRestored(
  db: Db,
  sweptAt: Date,
  restored: { liftJobs: number; sendJobs: number; deliveries: number; webhookJobs: number },
): Promise<boolean> {
  return raiseAlert(db, {
    key: `reconcile-restored:${sweptAt.toISOString()}`,
    kind: 'reconcile-restored',
    releaseId: null,
    summary: `Reconcile restored lost jobs: ${restored.liftJobs} lift, ${restored.sendJobs} send (${restored.deliveries} deliveries), ${restored.webhookJobs} webhook`,
    details: restored,
  });
}

/** Where an alert's reader goes next: the release's report, or the operations page. */
function consoleLink(ctx: AlertDeps, alert: Alert): string {
  return alert.release_id !== null
    ? `${ctx.config.PUBLIC_URL}/console/releases/${alert.release_id}`
    : `${ctx.config.PUBLIC_URL}/console/operations`;
}

function alertText(ctx: AlertDeps, alert: Alert): string {
  const details = Object.entries(alert.details).map(
    ([key, value]) => `${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`,
  );
  return [
    `Presslift alert: ${alert.summary}`,
    ...details,
    `Raised ${alert.raised_at.toISOString()}. ${consoleLink(ctx, alert)}`,
  ].join('\n');
}

async function alertEmail(ctx: AlertDeps, alert: Alert, to: string[]) {
  const domain = ctx.config.MAIL_FROM.split('@').pop()!.replace(/>.*$/, '');
  const composer = new MailComposer({
    from: ctx.config.MAIL_FROM,
    to,
    subject: `[Presslift] ${alert.summary}`,
    text: alertText(ctx, alert),
    messageId: `<alert-${alert.id}@${domain}>`,
    headers: { 'Auto-Submitted': 'auto-generated' },
  });
  const node = composer.compile();
  const envelope = node.getEnvelope();
  return {
    envelope: { from: String(envelope.from), to: envelope.to },
    raw: await node.build(),
    messageId: `<alert-${alert.id}@${domain}>`,
  };
}

/** Sends each channel not yet sent; true when every configured channel has it. */
async function deliverAlert(ctx: AlertDeps, mailer: Mailer, alert: Alert): Promise<string | null> {
  const { config, db } = ctx;
  const errors: string[] = [];
  if (config.ALERT_EMAILS && !alert.email_sent_at) {
    try {
      await mailer.send(await alertEmail(ctx, alert, config.ALERT_EMAILS));
      await noteAlertChannelSent(db, alert.id, 'email');
    } catch (error) {
      errors.push(`email: ${(error as Error).message}`);
    }
  }
  if (config.ALERT_WEBHOOK_URL && !alert.webhook_sent_at) {
    // {"text": …} is what both Slack's and Microsoft Teams' incoming webhooks accept.
    const answer = await postJson(
      config.ALERT_WEBHOOK_URL,
      JSON.stringify({ text: alertText(ctx, alert) }),
      {},
      WEBHOOK_TIMEOUT_MS,
    );
    if (succeeded(answer)) await noteAlertChannelSent(db, alert.id, 'webhook');
    else errors.push(`webhook: ${answer.status ?? 'no answer'} ${answer.body.slice(0, 200)}`);
  }
  return errors.length > 0 ? errors.join('; ') : null;
}

/**
 * Sends the alerts that are due, at most ALERT_MAX_PER_HOUR in any hour: the rest are held, and
 * once the hour allows one digest counts them by kind. With no channel configured alerts wait,
 * visible in the console.
 */
export async function dispatchAlerts(
  ctx: AlertDeps,
  mailer: Mailer,
): Promise<{ sent: number; held: number; failed: number }> {
  const { config, db, log } = ctx;
  const result = { sent: 0, held: 0, failed: 0 };
  if (!config.ALERT_EMAILS && !config.ALERT_WEBHOOK_URL) return result;
  let budget = config.ALERT_MAX_PER_HOUR - (await alertsSentLastHour(db));
  for (let round = 0; round < 2; round++) {
    const due = await dueAlerts(db);
    const overLimit = due.slice(Math.max(0, budget));
    await holdAlerts(
      db,
      overLimit.map((a) => a.id),
    );
    result.held += overLimit.length;
    for (const alert of due.slice(0, Math.max(0, budget))) {
      const error = await deliverAlert(ctx, mailer, alert);
      if (error) {
        log.warn({ alertId: alert.id, kind: alert.kind, err: error }, 'alert could not be sent; retrying later');
        await markAlertRetry(db, alert.id, error, MAX_ATTEMPTS);
        result.failed += 1;
        continue;
      }
      await markAlertSent(db, alert.id);
      log.warn({ alertId: alert.id, kind: alert.kind, releaseId: alert.release_id }, `alert sent: ${alert.summary}`);
      result.sent += 1;
      budget -= 1;
    }
    if (budget <= 0) break;
    // The hour allows one more: count what was held back since the last digest, and send that too.
    const held = await takeHeldForDigest(db);
    if (held.length === 0) break;
    const byKind = new Map<string, number>();
    for (const alert of held) byKind.set(alert.kind, (byKind.get(alert.kind) ?? 0) + 1);
    const kinds = [...byKind].map(([kind, n]) => `${n} ${kind}`).join(', ');
    await raiseAlert(db, {
      key: `held:${Math.max(...held.map((a) => a.id))}`,
      kind: 'alerts-held',
      releaseId: null,
      summary: `${held.length} alerts were held back by the limit of ${config.ALERT_MAX_PER_HOUR} an hour (${kinds})`,
      details: { held: held.length },
    });
  }
  return result;
}
