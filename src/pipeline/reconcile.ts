import type { Queue } from 'bullmq';
import type { Context } from '../context.js';
import { dueUnfinishedDeliveries } from '../db/deliveries.js';
import { liftableReleases, type Liftable } from '../db/releases.js';
import { pendingWebhookDeliveries } from '../db/webhooks.js';
import { raiseLiftFailed } from '../alerts/staff-alerts.js';
import { applyPauseState } from '../controls/pause.js';
import { webhookJobId, type SendJob } from '../queue/index.js';
import { enqueueSends } from '../queue/send-jobs.js';
import { addLiftJob, advanceAt, liftJobId } from '../releases/jobs.js';
import { addWebhookJobs } from './webhook.js';

export interface ReconcileResult {
  /** Lift (and advance) jobs put back: added where Redis had none, retried where one had failed for good. */
  liftJobs: number;
  /** Send jobs added for deliveries that no live job pointed at. */
  sendJobs: number;
  /** Due deliveries that no live send job pointed at, before this pass restored them. */
  deliveriesWithoutJob: number;
  webhookJobs: number;
  paused: boolean;
}

/**
 * A row changed this recently may have its job on the way (a fan-out chunk between its INSERT and
 * its addBulk, a batch handing rows back): reconcile leaves it to the next pass rather than race it.
 */
const SETTLE_SECONDS = 5;
/** Jobs a live send job can be in; completed and failed ones no longer send anything. */
const LIVE_STATES = ['active', 'waiting', 'delayed', 'prioritized', 'waiting-children'] as const;
const PAGE = 1000;

/**
 * Rebuilds Redis's picture from PostgreSQL, the source of truth (invariant "nothing lost"): the pause, a lift
 * job for every release that needs one, a send job for every due delivery that no live job points
 * at, a job for every pending webhook delivery. It restores only what is missing, so running it
 * every few seconds (the standing sweep, src/pipeline/sweep.ts) adds nothing while nothing is lost.
 */
export async function reconcile(ctx: Context): Promise<ReconcileResult> {
  // An emergency stop outlives Redis: re-pause before restoring any job a worker could take.
  const paused = await applyPauseState(ctx);
  const liftJobs = await restoreLiftJobs(ctx);
  const sends = await restoreSendJobs(ctx);
  const webhookJobs = await restoreWebhookJobs(ctx);
  const result = { liftJobs, sendJobs: sends.jobs, deliveriesWithoutJob: sends.missing, webhookJobs, paused };
  if (liftJobs + sends.jobs + webhookJobs > 0) {
    ctx.log.warn(
      result,
      `reconcile restored jobs Redis did not have${paused ? '; sending is paused, so they wait for `presslift resume`' : ''}`,
    );
  }
  return result;
}

/** Every scheduled release, and every release whose fan-out did not finish, gets its lift job (and its advance job). */
async function restoreLiftJobs(ctx: Context): Promise<number> {
  let restored = 0;
  for (const release of await liftableReleases(ctx.db)) {
    if (await restoreLiftJob(ctx, release, 'lift')) restored += 1;
    // Running an advance step again is harmless: it freezes only members who had joined by the
    // advance time (freezeAudienceChunk), so a job restored after its record expired reaches no
    // late joiner, while a new version's step (after an edit) still gets its job back.
    if (release.status === 'scheduled' && advanceAt(release) && (await restoreLiftJob(ctx, release, 'advance')))
      restored += 1;
  }
  return restored;
}

async function restoreLiftJob(ctx: Context, release: Liftable, phase: 'lift' | 'advance'): Promise<boolean> {
  const { lift } = ctx.queues;
  const job = await lift.getJob(liftJobId(release.id, release.version, phase));
  const state = job ? await job.getState() : 'unknown';
  if (job && state === 'failed') {
    await raiseLiftFailed(ctx.db, release.id, release.version, phase, job.failedReason ?? 'failed');
    await job.retry();
    return true;
  }
  // An advance step that completed has frozen its version's advance audience.
  if (job && state !== 'unknown' && (state !== 'completed' || phase === 'advance')) return false;
  // Missing, or a lift completed although the release still waits for it: a new job, due at its instant.
  if (job) await job.remove();
  await addLiftJob(lift, release.id, release.version, phase === 'lift' ? release.send_at : advanceAt(release)!, phase);
  return true;
}

/** The delivery ids that live send jobs point at, read page by page. */
async function deliveriesInLiveJobs(queue: Queue<SendJob>): Promise<Set<number>> {
  const covered = new Set<number>();
  for (const state of LIVE_STATES) {
    for (let start = 0; ; start += PAGE) {
      const jobs = await queue.getJobs([state], start, start + PAGE - 1, true);
      for (const job of jobs) for (const id of job?.data?.deliveryIds ?? []) covered.add(id);
      if (jobs.length < PAGE) break;
    }
  }
  return covered;
}

/**
 * Gives a send job to every due delivery that no live job points at: lost with Redis's data, refused
 * by Redis when it was queued, or left behind by a job that failed for good. PostgreSQL is read
 * first: a job that ends in between only makes its rows look uncovered, and the extra job finds
 * nothing to claim.
 */
async function restoreSendJobs(ctx: Context): Promise<{ missing: number; jobs: number }> {
  const due = await dueUnfinishedDeliveries(ctx.db, SETTLE_SECONDS);
  if (due.length === 0) return { missing: 0, jobs: 0 };
  const covered = await deliveriesInLiveJobs(ctx.queues.send);
  let missing = 0;
  let jobs = 0;
  for (const { releaseId, ids } of due) {
    const uncovered = ids.filter((id) => !covered.has(id));
    missing += uncovered.length;
    jobs += await enqueueSends(ctx.queues.send, ctx.config, releaseId, uncovered);
  }
  return { missing, jobs };
}

/** Every pending webhook delivery whose job Redis no longer has gets it back (same job id). */
async function restoreWebhookJobs(ctx: Context): Promise<number> {
  const pending = await pendingWebhookDeliveries(ctx.db, SETTLE_SECONDS);
  const missing: number[] = [];
  for (let i = 0; i < pending.length; i += PAGE) {
    const page = pending.slice(i, i + PAGE);
    const states = await Promise.all(page.map((id) => ctx.queues.webhook.getJobState(webhookJobId(id))));
    page.forEach((id, n) => {
      if (states[n] === 'unknown') missing.push(id);
    });
  }
  await addWebhookJobs(ctx.queues.webhook, ctx.config, missing);
  return missing.length;
}
