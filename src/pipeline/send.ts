import type { Job } from 'bullmq';
import type { Context } from '../context.js';
import {
  cancelWaiting,
  claimBatch,
  discardClaims,
  leaseHeldUntil,
  recordCancelled,
  recordFailed,
  recordSent,
  recordSkipped,
  releaseClaims,
  type ClaimedDelivery,
  type FailureRecord,
  type SentRecord,
} from '../db/deliveries.js';
import { deliveryCounts, findRelease } from '../db/releases.js';
import type { Phase } from '../states.js';
import { suppress } from '../db/subscribers.js';
import { classifySmtpError } from '../mail/classify.js';
import { assembleMessage } from '../mail/assemble.js';
import { personaliseMessage, messageSettings } from '../mail/message.js';
import { NotHandedOver } from '../mail/smtp-pool.js';
import type { Mailer } from '../mail/transport.js';
import type { RelayHealthRecorder } from '../mail/relay-health.js';
import type { SendJob } from '../queue/index.js';
import { domainOf, type Pacer } from '../queue/pacing.js';
import { enqueueSends } from '../queue/send-jobs.js';
import { completeRelease } from '../releases/lifecycle.js';
import type { RenderCache } from '../releases/renders.js';
import { BatchGuard, type Withheld } from './batch-guard.js';
import { GroupWriter } from './group-writer.js';
import { MessageSlots } from './message-slots.js';

export interface SendDeps {
  ctx: Context;
  renders: RenderCache;
  mailer: Mailer;
  /** The process's one writer of acceptances (see sentRecorder). */
  recorder: GroupWriter<SentRecord>;
  /** Tells the standing sweep whether the relay takes mail (for the "relay refusing" alert). */
  relayHealth?: RelayHealthRecorder;
  /** Paces each destination domain, and all mail, across workers (src/queue/pacing.ts). */
  pacer: Pacer;
  /** The process's messages in hand, shared among its batches (see messageSlots). */
  slots: MessageSlots;
}

/**
 * Four messages per SMTP connection in hand at once across the process's batches: one on the wire,
 * the next ones built and waiting, so no connection idles while a batch claims or records.
 */
export const messageSlots = (config: Context['config']) => new MessageSlots(config.SMTP_POOL_SIZE * 4);

/** Records acceptances for every batch of a worker process, in shared multi-row UPDATEs. */
export function sentRecorder(ctx: Context): GroupWriter<SentRecord> {
  return new GroupWriter<SentRecord>(async (rows) => {
    const recorded = await recordSent(ctx.db, rows);
    const late = rows.filter((row) => !recorded.has(row.id)).map((row) => row.id);
    // Only a process that stalled past its lease in the middle of a message gets here.
    if (late.length > 0)
      ctx.log.warn(
        { deliveryIds: late },
        'the relay accepted messages whose claim had already passed to another worker; they may arrive twice',
      );
  }, ctx.log);
}

export interface BatchResult {
  claimed: number;
  sent: number;
  failed: number;
  retrying: number;
}

/** Thrown so BullMQ retries the job with backoff; the retry claims only the rows handed back. */
export class RetryLater extends Error {}

/** Thrown to look at the job again at `at`, without spending an attempt. */
export class DeferUntil extends Error {
  constructor(
    readonly at: Date,
    message: string,
  ) {
    super(message);
  }
}

/** What became of a batch's messages. */
interface Outcome {
  /** Acceptances on their way to PostgreSQL. */
  recorded: Set<Promise<void>>;
  permanent: FailureRecord[];
  transient: FailureRecord[];
  /** Rows never handed to SMTP, with why (see BatchGuard). */
  withheld: Array<{ id: number; why: Withheld }>;
  /** Rows whose domain must wait (its pace, or a slow-down it asked for): handed back for later, not waited for. */
  paced: PacedRow[];
}

type PacedRow = FailureRecord & { domain: string; retryInMs: number };

/**
 * Sends one batch of deliveries: claims the rows atomically under a fencing token, hands each
 * message to SMTP only while the BatchGuard says the claim and the recipient still stand, records
 * each acceptance within milliseconds, ends permanent refusals, and gives transient ones back to
 * the queue for BullMQ's next attempt (or fails them once the attempts are spent).
 */
export async function processSend(deps: SendDeps, job: Job<SendJob>): Promise<BatchResult> {
  const { db, config } = deps.ctx;
  const { releaseId } = job.data;
  const log = deps.ctx.log.child({ releaseId, jobId: job.id });

  const claimedAt = performance.now();
  const claim = await claimBatch(db, job.data.deliveryIds, config.LEASE_SECONDS);
  const claimed = claim.deliveries;
  if (claimed.length === 0) {
    await settle(deps, job, true);
    return { claimed: 0, sent: 0, failed: 0, retrying: 0 };
  }
  // A notice or correction is not superseded by a later version, nor stopped by a cancellation: it tells of them.
  const rows = claimed.map((d) => ({ id: d.deliveryId, version: d.version, notice: d.changeId !== null }));
  const guard = new BatchGuard(db, { token: claim.token, releaseId, rows, claimedAt }, config.LEASE_SECONDS, log);
  const outcome: Outcome = { recorded: new Set(), permanent: [], transient: [], withheld: [], paced: [] };
  try {
    await deliverAll(deps, claimed, claim.token, guard, outcome, log);
  } finally {
    // Renewal goes on until every acceptance is stored: an unrecorded row must not change hands.
    guard.close();
  }
  await settleWithheld(deps, releaseId, claim.token, outcome.withheld, log);
  await recordFailed(db, outcome.permanent, claim.token);
  await handBackPaced(deps, releaseId, claim.token, outcome.paced);

  const { permanent, transient } = outcome;
  const result = {
    claimed: claimed.length,
    sent: claimed.length - outcome.withheld.length - outcome.paced.length - permanent.length - transient.length,
    failed: permanent.length,
    retrying: 0,
  };
  if (transient.length > 0) {
    const attemptsLeft = (job.opts.attempts ?? 1) - (job.attemptsMade + 1);
    if (attemptsLeft <= 0) {
      await recordFailed(db, transient, claim.token);
      result.failed += transient.length;
    } else {
      await releaseClaims(db, transient, claim.token);
      await finishIfDone(deps, releaseId);
      throw new RetryLater(
        `${transient.length} of ${claimed.length} deliveries hit a temporary failure (${transient[0]!.error}); retrying`,
      );
    }
  }
  await settle(deps, job, claim.passedOver > 0);
  return result;
}

/**
 * Hands the batch's messages to SMTP, each once it has one of the process's message slots: the
 * rest wait here, where the guard can still stop them and no message is built before its turn
 * (built early, they outlive the young generation and fill the heap). Every lane runs to its end
 * even if another fails, and every acceptance is stored before this returns.
 */
async function deliverAll(
  deps: SendDeps,
  claimed: ClaimedDelivery[],
  token: string,
  guard: BatchGuard,
  outcome: Outcome,
  log: Context['log'],
): Promise<void> {
  const { db, config } = deps.ctx;
  // The release is read only when its email is not in the cache: a query a batch, twenty at once
  // when twenty releases lift together, for what the claim already says (its version).
  const release = async () => {
    const found = await findRelease(db, claimed[0]!.releaseId);
    if (!found) throw new Error(`release ${claimed[0]!.releaseId} vanished while sending`);
    return found;
  };
  const compiled = (delivery: ClaimedDelivery) =>
    delivery.changeId !== null
      ? deps.renders.change(delivery.changeId)
      : deps.renders.ofVersion(delivery.releaseId, delivery.version, delivery.phase as Phase, release);
  const settings = messageSettings(config, deps.ctx.keys);

  const deliver = async (delivery: ClaimedDelivery) => {
    const id = delivery.deliveryId;
    if (!guard.check(id)) {
      outcome.withheld.push({ id, why: guard.reasonFor(id) });
      return;
    }
    const pace = await deps.pacer.take(delivery.email);
    if (!pace.go) {
      outcome.paced.push({
        id,
        error: `held back: ${pace.domain} is paced (${pace.why})`,
        domain: pace.domain,
        retryInMs: pace.retryInMs,
      });
      return;
    }
    const message = assembleMessage(personaliseMessage(await compiled(delivery), delivery, settings));
    const timer = deps.ctx.metrics.smtpSendSeconds.startTimer();
    try {
      await deps.mailer.send(message, () => guard.mayHandOver(id));
      timer({ outcome: 'sent' });
      deps.relayHealth?.accepted();
      outcome.recorded.add(deps.recorder.add({ id, token, messageId: message.messageId }));
    } catch (error) {
      if (error instanceof NotHandedOver) {
        outcome.withheld.push({ id, why: guard.reasonFor(id) });
        return;
      }
      timer({ outcome: 'refused' });
      const failure = classifySmtpError(error);
      log.warn({ deliveryId: id, reply: failure.reply, permanent: failure.permanent }, 'SMTP refused a message');
      if (!failure.permanent) deps.relayHealth?.refused(failure.reply);
      if (failure.slowDown) {
        // Only this domain waits, and no attempt is spent.
        const domain = domainOf(delivery.email);
        outcome.paced.push({ id, error: failure.reply, domain, retryInMs: await deps.pacer.slowDown(domain) });
      } else {
        (failure.permanent ? outcome.permanent : outcome.transient).push({
          id,
          error: failure.reply,
          suppress: failure.suppress,
        });
      }
      // At once, so other batches skip the address from their next message on; recordFailed
      // suppresses it for certain, so a failure here only costs those batches the early warning.
      if (failure.suppress)
        await suppress(db, delivery.email, failure.reply, 'smtp', {
          deliveryId: id,
          releaseId: delivery.releaseId,
        }).catch((e: Error) => log.warn({ err: e.message }, 'could not suppress a hard-bounced address yet'));
    } finally {
      pace.release();
    }
  };

  const pending = claimed.values();
  const share = deps.slots.open();
  const lane = async () => {
    for (const delivery of pending) await share.run(() => guard.message(() => deliver(delivery)));
  };
  const ended = await Promise.allSettled(
    Array.from({ length: Math.min(claimed.length, config.SMTP_POOL_SIZE * 4) }, lane),
  ).finally(share.close);
  deps.recorder.flush();
  await Promise.all(outcome.recorded);
  const failed = ended.find((lane): lane is PromiseRejectedResult => lane.status === 'rejected');
  if (failed) throw failed.reason;
}

/**
 * Gives paced rows back to the queue, a delayed job per domain, so the batch's other rows are not
 * held up. The job comes back when the domain may go again, and later the more rows it carries: at
 * the domain's pace they cannot all go at once, and a job that woke for one token would only hand
 * the rest back again.
 */
async function handBackPaced(deps: SendDeps, releaseId: number, token: string, paced: PacedRow[]): Promise<void> {
  if (paced.length === 0) return;
  const { db, config } = deps.ctx;
  await releaseClaims(db, paced, token);
  const byDomain = new Map<string, PacedRow[]>();
  for (const row of paced) byDomain.set(row.domain, [...(byDomain.get(row.domain) ?? []), row]);
  for (const [domain, rows] of byDomain) {
    const delayMs = Math.max(...rows.map((r) => r.retryInMs)) + (rows.length - 1) * deps.pacer.spacingMs(domain);
    await enqueueSends(
      deps.ctx.queues.send,
      config,
      releaseId,
      rows.map((r) => r.id),
      { delayMs },
    );
  }
}

/** What becomes of the rows the guard withheld: each reason has its one ending. */
async function settleWithheld(
  deps: SendDeps,
  releaseId: number,
  token: string,
  withheld: Outcome['withheld'],
  log: Context['log'],
): Promise<void> {
  const { db, config } = deps.ctx;
  const ids = (kind: Withheld['kind']) => withheld.filter((w) => w.why.kind === kind).map((w) => w.id);
  const cancelled = ids('cancelled');
  if (cancelled.length > 0) {
    await recordCancelled(db, cancelled, token);
    log.info({ cancelled: cancelled.length }, 'release cancelled; the rest of the batch was not sent');
  }
  const superseded = ids('superseded');
  if (superseded.length > 0) {
    await discardClaims(db, superseded, token);
    log.info({ discarded: superseded.length }, 'the release changed; copies staged for its old version were discarded');
  }
  const skipped = withheld.flatMap((w) => (w.why.kind === 'skipped' ? [{ id: w.id, error: w.why.reason }] : []));
  if (skipped.length > 0) {
    await recordSkipped(db, skipped, token);
    log.info(
      { skipped: skipped.length },
      'recipients who unsubscribed or were suppressed during the batch were skipped',
    );
  }
  // A pause, or a lease this worker could not keep: what is still this claim's goes back to the
  // queue under a new job (held by the paused queue until resume). Were Redis to refuse it, the
  // rows are queued under a sending release, which reconcile restores.
  const handBack = [...ids('paused'), ...ids('lease')];
  if (handBack.length > 0) {
    const error = ids('paused').length > 0 ? 'held back: sending was paused' : 'held back: the claim lost its lease';
    await releaseClaims(
      db,
      handBack.map((id) => ({ id, error })),
      token,
    );
    await enqueueSends(deps.ctx.queues.send, config, releaseId, handBack);
    log.warn({ held: handBack.length, reason: error }, 'the rest of the batch goes back to the queue');
  }
}

/**
 * Ends the job's part: completes the release when nothing is left, or, when another worker still
 * holds some of the job's rows under a live lease, comes back when that lease ends. That worker may
 * have died, and its rows are recovered only by a job that looks again after the lease (invariant
 * "nothing lost"). A claim that took every row of the job knows no other worker holds one, and
 * does not ask.
 */
async function settle(deps: SendDeps, job: Job<SendJob>, passedOver: boolean): Promise<void> {
  const heldUntil = passedOver ? await leaseHeldUntil(deps.ctx.db, job.data.deliveryIds) : null;
  if (heldUntil)
    throw new DeferUntil(heldUntil, 'another worker holds some of these deliveries; looking again when its lease ends');
  await finishIfDone(deps, job.data.releaseId);
}

/**
 * Completes a release whose last delivery ended, with its one summary line and its lag histograms
 * (observed once, by the worker that finishes it); for a cancelled one, ends what is left waiting.
 */
async function finishIfDone(deps: SendDeps, releaseId: number): Promise<void> {
  const { db, log, metrics } = deps.ctx;
  const release = await completeRelease(deps.ctx, releaseId);
  if (!release) {
    await cancelWaiting(db, releaseId);
    return;
  }
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
    durationMs:
      release.lifted_at && release.completed_at ? release.completed_at.getTime() - release.lifted_at.getTime() : null,
  };
  if (counts.failed > 0) log.warn(summary, 'release sent with failed deliveries');
  else log.info(summary, 'release sent');
}
