import { DelayedError, type Job } from 'bullmq';
import type { Context } from '../context.js';
import {
  cancelWaiting,
  discardStaged,
  freezeAudienceChunk,
  staleHeldUntil,
  unfinishedDeliveryIds,
} from '../db/deliveries.js';
import { databaseNow, deliveryCounts, findRelease, markFanoutDone } from '../db/releases.js';
import type { Release } from '../db/schema.js';
import type { Phase } from '../states.js';
import type { LiftJob } from '../queue/index.js';
import { enqueueSends } from '../queue/send-jobs.js';
import { LIFT_PREPARE_MS } from '../releases/jobs.js';
import { completeRelease } from '../releases/lifecycle.js';
import { firstChunkSize, liftAtInstant, type LiftStart } from './instant-lifts.js';
import { announcePreparation, prepareToSend, type PrepareDeps } from './prepare.js';
import { Turns } from './turns.js';

export type LiftDeps = PrepareDeps;

/**
 * Fan-out chunks running at once in a process, after the first ones (frozen together at the
 * instant, see liftAtInstant). Many releases embargoed to the same instant fan out together; with
 * a queue of turns the database is not asked for twenty big INSERTs at once while the send
 * workers need it, and each release's chunks keep pace with the others'.
 */
const fanoutTurns = new Turns(2);

/** A lift this long after its instant is logged as a warning. */
const LATE_LIFT_MS = 5_000;

/** How often a freeze waiting for a worker to let go of outdated rows looks again. */
const STALE_RECHECK_MS = 1_000;

export type LiftOutcome = 'stale' | 'not-scheduled' | 'lifted' | 'cancelled';

/**
 * Lifts the embargo of one release version: the lifecycle's scheduled → sending (by PostgreSQL's
 * clock, for this version only), then freezes its audience into delivery rows and queues the send
 * jobs. Safe to run twice, and a no-op for a superseded version (invariant "once per recipient").
 */
export async function processLift(deps: LiftDeps, job: Job<LiftJob>, token?: string): Promise<LiftOutcome> {
  const { db } = deps.ctx;
  const { releaseId, version } = job.data;
  const log = deps.ctx.log.child({ releaseId, version, jobId: job.id });

  const release = await findRelease(db, releaseId);
  if (!release || release.version !== version) {
    log.info('lift job is for a superseded version; nothing to do');
    return 'stale';
  }
  const resuming = release.status === 'sending' && release.fanout_done_at === null;
  if (release.status !== 'scheduled' && !resuming) {
    log.info({ status: release.status }, 'release is not scheduled; nothing to do');
    return 'not-scheduled';
  }

  // Invariant 1: this process's clock may run fast, so the send instant (the embargo, or an
  // earlier lift staff asked for) is judged by PostgreSQL's.
  const remainingMs = release.send_at.getTime() - (await databaseNow(db)).getTime();
  if (release.status === 'scheduled' && remainingMs > LIFT_PREPARE_MS) {
    log.warn({ remainingMs }, 'lift job fired before the embargo by the database clock; delaying it');
    await job.moveToDelayed(Date.now() + remainingMs - LIFT_PREPARE_MS, token);
    throw new DelayedError();
  }

  // The job fires shortly before the instant so that what can be readied is ready when it comes:
  // the email is compiled here, once a version; then every worker process loads it and opens its
  // database and relay connections while this one waits for the instant.
  await deps.renders.get(release);
  let lifted = release;
  let start: LiftStart | undefined;
  if (release.status === 'scheduled') {
    await announcePreparation(deps.ctx, release);
    // This process prepares itself too, should the announcement not reach it. Not awaited: a relay
    // slow to answer must never make the lift late; the first sends open whatever is not ready.
    prepareToSend(deps, release).catch((error: Error) => log.warn({ err: error.message }, 'preparing to send failed'));
    const begun = await liftAtInstant(deps.ctx, release);
    if (!begun) {
      log.info('release changed while lifting, or another job lifts it; nothing to do');
      return 'stale';
    }
    start = begun;
    lifted = begun.release;
  }
  const liftedAt = lifted.lifted_at!;
  // Late is never lost, but it is worth a warning: no worker was running, or the queue was stuck.
  const lagMs = liftedAt.getTime() - release.send_at.getTime();
  const late = lagMs > LATE_LIFT_MS;
  log[late ? 'warn' : 'info']({ lagMs }, `embargo lifted${late ? ' late' : ''}; freezing the audience`);

  const jobs = await freezeStage(deps.ctx, job, token, lifted, 'lift', liftedAt, resuming, start);
  if (!(await markFanoutDone(db, releaseId, version))) {
    // Cancelled during fan-out: the rows frozen after the cancellation are cancelled now.
    log.info({ cancelled: await cancelWaiting(db, releaseId) }, 'release cancelled while its audience was frozen');
    return 'cancelled';
  }
  const counts = await deliveryCounts(db, releaseId);
  log.info(
    { counts, sendJobs: jobs, lagMs, fanoutMs: Date.now() - liftedAt.getTime() },
    'audience frozen and send jobs queued',
  );
  if (await completeRelease(deps.ctx, releaseId)) log.info({ counts }, 'release sent (nothing to deliver)');
  return 'lifted';
}

/**
 * Freezes a release version's audience for a phase at its instant and queues its send jobs.
 * Advance copies staged for an older version that no worker holds any more are discarded after
 * each pass (not before it: the first chunk is on the clock), and their people frozen by another
 * pass; if a worker still holds some under a live lease, their people are not frozen yet, so the
 * step is looked at again shortly (the worker lets go before its next message, or its lease ends).
 * A re-run first queues again the rows an interrupted run froze, whose send jobs may be lost. A
 * lift's first pass goes on from the first chunk frozen at the instant, when there was one.
 */
export async function freezeStage(
  ctx: Context,
  job: Job<LiftJob>,
  token: string | undefined,
  release: Release,
  phase: Phase,
  instant: Date,
  rerun: boolean,
  start?: LiftStart,
): Promise<number> {
  const { db } = ctx;
  let jobs = rerun ? await requeueUnfinished(ctx, release.id) : 0;
  jobs += await freezeAudience(ctx, release, phase, instant, start);
  while ((await discardStaged(db, release.id, release.version)) > 0)
    jobs += await freezeAudience(ctx, release, phase, instant);
  const heldUntil = await staleHeldUntil(db, release.id, release.version);
  if (heldUntil) {
    ctx.log.info(
      { releaseId: release.id, version: release.version, phase },
      'a worker still holds copies staged for an older version; freezing their people once it lets go',
    );
    await job.moveToDelayed(
      Date.now() + Math.min(STALE_RECHECK_MS, Math.max(0, heldUntil.getTime() - Date.now())),
      token,
    );
    throw new DelayedError();
  }
  return jobs;
}

/**
 * One pass over the audience, chunk by chunk, queuing send jobs as it goes, from after `start`'s
 * first chunk when given. The lift's first chunk is small, so the first send job is a quick one;
 * chunks then double up to the configured size, keeping round trips few. Advance copies have no
 * such hurry.
 */
async function freezeAudience(
  ctx: Context,
  release: Release,
  phase: Phase,
  instant: Date,
  start?: LiftStart,
): Promise<number> {
  const { db, config, queues } = ctx;
  if (start && start.firstChunk.nextCursor === null) return start.jobs;
  let jobs = start?.jobs ?? 0;
  let cursor = start?.firstChunk.nextCursor ?? 0;
  let chunkSize =
    phase === 'lift'
      ? Math.min(firstChunkSize(config) * (start ? 2 : 1), config.FANOUT_CHUNK_SIZE)
      : config.FANOUT_CHUNK_SIZE;
  for (;;) {
    // Chunks of the releases lifting at once in this process take turns (see fanoutTurns), and the
    // lift's send jobs carry their turn as priority (round robin across releases). Advance copies
    // keep plain FIFO jobs: with turns, tests/integration/advance-stage.test.ts failed 4 of 6 (an
    // edit during a gated advance send answered 409), and passed with them left out.
    const chunk = await fanoutTurns.run(async () => {
      const frozen = await freezeAudienceChunk(db, {
        releaseId: release.id,
        version: release.version,
        phase,
        instant,
        afterSubscriberId: cursor,
        chunkSize,
      });
      jobs += await enqueueSends(
        queues.send,
        config,
        release.id,
        frozen.queuedIds,
        phase === 'lift' ? { turn: jobs + 1 } : {},
      );
      return frozen;
    });
    if (chunk.nextCursor === null) return jobs;
    cursor = chunk.nextCursor;
    chunkSize = Math.min(chunkSize * 2, config.FANOUT_CHUNK_SIZE);
  }
}

/** Queues a send job for every delivery of a release that is waiting or in flight (see unfinishedDeliveryIds). */
export async function requeueUnfinished(ctx: Context, releaseId: number): Promise<number> {
  let after = 0;
  let jobs = 0;
  for (;;) {
    const ids = await unfinishedDeliveryIds(ctx.db, releaseId, after, 10_000);
    if (ids.length === 0) return jobs;
    jobs += await enqueueSends(ctx.queues.send, ctx.config, releaseId, ids);
    after = ids[ids.length - 1]!;
  }
}
