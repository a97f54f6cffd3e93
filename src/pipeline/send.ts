import type { Job } from 'bullmq';
import type { Context } from '../context';
import {
  cancelWaiting, claimBatch, completeIfDone, leaseHeldUntil, noteSendTimes, recordCancelled, recordFailed, recordSent, releaseClaims, renewLease,
  type ClaimedDelivery, type FailureRecord, type SentRecord,
} from '../db/deliveries';
import { deliveryCounts, findRelease } from '../db/releases';
import type { Phase } from '../db/schema';
import { suppress } from '../db/subscribers';
import { classifySmtpError } from '../mail/classify';
import { buildMessage, messageSettings } from '../mail/message';
import type { Mailer } from '../mail/transport';
import type { RelayHealthRecorder } from '../ops/relay-health';
import type { SendJob } from '../queue';
import type { RenderCache } from '../render/store';
import { haltWatch, type Halt } from './halt';
import { enqueueSends } from './enqueue';
import { GroupWriter } from './recorder';

export interface SendDeps {
  ctx: Context;
  renders: RenderCache;
  mailer: Mailer;
  /** The process's one writer of acceptances (see sentRecorder). */
  recorder: GroupWriter<SentRecord>;
  /** Tells the standing sweep whether the relay takes mail (for the "relay refusing" alert). */
  relayHealth?: RelayHealthRecorder;
}

/** Records acceptances for every batch of a worker process, in shared multi-row UPDATEs. */
export function sentRecorder(ctx: Context): GroupWriter<SentRecord> {
  return new GroupWriter<SentRecord>((rows) => recordSent(ctx.db, rows), ctx.log);
}

export interface BatchResult {
  claimed: number;
  sent: number;
  failed: number;
  retrying: number;
}

/** Thrown so BullMQ retries the job with backoff; the retry claims only the rows handed back. */
export class RetryLater extends Error {}

/** Thrown when the relay answered 421 "slow down": the worker pauses, and the job waits without spending an attempt. */
export class SlowDown extends Error {}

/** Thrown to look at the job again at `at`, without spending an attempt. */
export class DeferUntil extends Error {
  constructor(readonly at: Date, message: string) {
    super(message);
  }
}

/**
 * Sends one batch of deliveries. Rows are claimed atomically, each acceptance is recorded within
 * milliseconds, permanent refusals end their delivery, and transient ones go back to the queue
 * for BullMQ's next attempt (or fail once the attempts are spent).
 */
export async function processSend(deps: SendDeps, job: Job<SendJob>): Promise<BatchResult> {
  const { db, config } = deps.ctx;
  const { releaseId } = job.data;
  const log = deps.ctx.log.child({ releaseId, jobId: job.id });

  const claimed = await claimBatch(db, job.data.deliveryIds, config.LEASE_SECONDS);
  if (claimed.length === 0) {
    await settle(deps, job);
    return { claimed: 0, sent: 0, failed: 0, retrying: 0 };
  }
  const release = await findRelease(db, releaseId);
  if (!release) throw new Error(`release ${releaseId} vanished while sending`);
  const compiled = (phase: Phase) => deps.renders.get(release, phase);
  const settings = messageSettings(config, deps.ctx.keys);

  const inFlight = new Set(claimed.map((d) => d.deliveryId));
  const leaseTimer = setInterval(() => {
    renewLease(db, [...inFlight], config.LEASE_SECONDS).catch((error) => log.warn({ err: error.message }, 'lease renewal failed'));
  }, (config.LEASE_SECONDS * 1000) / 3);

  const recorded = new Set<Promise<void>>();
  const permanent: FailureRecord[] = [];
  const transient: FailureRecord[] = [];
  let slowDown = false;
  const times: Record<Phase, { first?: Date; last?: Date }> = { advance: {}, lift: {} };
  const halt = haltWatch(db, releaseId);
  let haltedBy: Halt = null;
  const notHanded: number[] = [];

  const deliver = async (delivery: ClaimedDelivery) => {
    // A cancellation or a pause stops the batch between messages; what was not handed to SMTP is
    // cancelled, or goes back to the queue to be sent on resume.
    const reason = await halt();
    if (reason) {
      haltedBy = reason;
      notHanded.push(delivery.deliveryId);
      return;
    }
    const message = buildMessage(await compiled(delivery.phase), delivery, settings);
    const timer = deps.ctx.metrics.smtpSendSeconds.startTimer();
    try {
      await deps.mailer.send(message);
      timer({ outcome: 'sent' });
      deps.relayHealth?.accepted();
      const at = new Date();
      times[delivery.phase].first ??= at;
      times[delivery.phase].last = at;
      recorded.add(deps.recorder.add({ id: delivery.deliveryId, messageId: message.messageId, sentAt: at }));
    } catch (error) {
      timer({ outcome: 'refused' });
      const failure = classifySmtpError(error);
      log.warn({ deliveryId: delivery.deliveryId, reply: failure.reply, permanent: failure.permanent }, 'SMTP refused a message');
      (failure.permanent ? permanent : transient).push({ id: delivery.deliveryId, error: failure.reply });
      if (!failure.permanent) deps.relayHealth?.refused(failure.reply);
      slowDown ||= failure.slowDown;
      if (failure.suppress) await suppress(db, delivery.email, failure.reply);
    } finally {
      inFlight.delete(delivery.deliveryId);
    }
  };

  try {
    // Four messages per SMTP connection at a time (one in hand, the next ones built and waiting, so
    // no connection idles while a batch claims or records; two measured about 15% slower), counted
    // across the worker's concurrent batches: the rest wait here, where a cancellation can
    // still stop them and no message is built before its turn (built early, they outlive the young
    // generation and fill the heap).
    const pending = claimed.values();
    const lane = async () => {
      for (const delivery of pending) await deliver(delivery);
    };
    const lanes = Math.ceil((config.SMTP_POOL_SIZE * 4) / config.SEND_CONCURRENCY);
    await Promise.all(Array.from({ length: Math.min(claimed.length, lanes) }, lane));
    deps.recorder.flush();
    await Promise.all(recorded);
  } finally {
    clearInterval(leaseTimer);
  }
  if (haltedBy === 'cancelled') {
    await recordCancelled(db, notHanded);
    log.info({ cancelled: notHanded.length }, 'release cancelled; the rest of the batch was not sent');
  } else if (notHanded.length > 0) {
    // The queue is paused, so the new job waits for resume; were Redis to refuse it, the rows are
    // queued under a sending release, which reconcile restores.
    await releaseClaims(db, notHanded.map((id) => ({ id, error: 'held back: sending was paused' })));
    await enqueueSends(deps.ctx.queues.send, config, releaseId, notHanded);
    log.warn({ held: notHanded.length }, 'sending paused; the rest of the batch goes back to the queue');
  }
  await recordFailed(db, permanent);
  for (const [phase, { first, last }] of Object.entries(times) as Array<[Phase, { first?: Date; last?: Date }]>) {
    if (first && last) await noteSendTimes(db, releaseId, phase, first, last);
  }

  const result = { claimed: claimed.length, sent: claimed.length - notHanded.length - permanent.length - transient.length, failed: permanent.length, retrying: 0 };
  if (slowDown) {
    await releaseClaims(db, transient);
    await finishIfDone(deps, releaseId);
    throw new SlowDown(`the relay asked to slow down (${transient.find((t) => t.error.startsWith('421'))?.error ?? transient[0]!.error})`);
  }
  if (transient.length > 0) {
    const attemptsLeft = (job.opts.attempts ?? 1) - (job.attemptsMade + 1);
    if (attemptsLeft <= 0) {
      await recordFailed(db, transient);
      result.failed += transient.length;
    } else {
      await releaseClaims(db, transient);
      await finishIfDone(deps, releaseId);
      throw new RetryLater(`${transient.length} of ${claimed.length} deliveries hit a temporary failure (${transient[0]!.error}); retrying`);
    }
  }
  await settle(deps, job);
  return result;
}

/**
 * Ends the job's part: completes the release when nothing is left, or, when another worker still
 * holds some of the job's rows under a live lease, comes back when that lease ends. That worker may
 * have died, and its rows are recovered only by a job that looks again after the lease (invariant 3).
 */
async function settle(deps: SendDeps, job: Job<SendJob>): Promise<void> {
  const heldUntil = await leaseHeldUntil(deps.ctx.db, job.data.deliveryIds);
  if (heldUntil) throw new DeferUntil(heldUntil, 'another worker holds some of these deliveries; looking again when its lease ends');
  await finishIfDone(deps, job.data.releaseId);
}

/**
 * Completes a release whose last delivery ended, with its one summary line and its lag histograms
 * (observed once, by the worker that finishes it); for a cancelled one, ends what is left waiting.
 */
async function finishIfDone(deps: SendDeps, releaseId: number): Promise<void> {
  const { db, log, metrics } = deps.ctx;
  if (!(await completeIfDone(db, releaseId))) {
    await cancelWaiting(db, releaseId);
    return;
  }
  const release = (await findRelease(db, releaseId))!;
  const counts = await deliveryCounts(db, releaseId);
  const sinceInstant = (at: Date | null) => (at ? at.getTime() - release.send_at.getTime() : null);
  const firstSendLagMs = sinceInstant(release.first_sent_at);
  const lastSendLagMs = sinceInstant(release.last_sent_at);
  if (firstSendLagMs !== null) metrics.firstSendLagSeconds.observe(firstSendLagMs / 1000);
  if (lastSendLagMs !== null) metrics.lastSendLagSeconds.observe(lastSendLagMs / 1000);
  const summary = {
    releaseId,
    version: release.version,
    counts,
    liftLagMs: sinceInstant(release.lifted_at),
    firstSendLagMs,
    lastSendLagMs,
    durationMs: release.lifted_at && release.completed_at ? release.completed_at.getTime() - release.lifted_at.getTime() : null,
  };
  if (counts.failed > 0) log.warn(summary, 'release sent with failed deliveries');
  else log.info(summary, 'release sent');
}
