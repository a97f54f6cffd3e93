import { DelayedError, type Job } from 'bullmq';
import type { Context } from '../context';
import { freezeAudienceChunk } from '../db/deliveries';
import { databaseNow, findRelease } from '../db/releases';
import { advanceAt } from '../embargo/lift-jobs';
import type { LiftJob } from '../queue';
import { enqueueSends } from './enqueue';
import { requeueUnfinished, type LiftDeps } from './lift';

export type AdvanceOutcome = 'stale' | 'not-scheduled' | 'advanced';

/**
 * Sends a release version's advance copies: at the advance time (judged by PostgreSQL's clock,
 * like the lift) freezes the members of its advance lists into advance deliveries and queues them.
 * The release stays scheduled and embargoed; its lift later sends everyone else. Safe to run
 * twice: a recipient has at most one delivery per release.
 */
export async function processAdvance(deps: LiftDeps, job: Job<LiftJob>, token?: string): Promise<AdvanceOutcome> {
  const { db, config, queues } = deps.ctx;
  const { releaseId, version } = job.data;
  const log = deps.ctx.log.child({ releaseId, version, jobId: job.id, phase: 'advance' });

  const release = await findRelease(db, releaseId);
  const instant = release && advanceAt(release);
  if (!release || release.version !== version || !instant) {
    log.info('advance job is for a superseded version, or this version sends no advance copies; nothing to do');
    return 'stale';
  }
  // Once lifted, whoever has no advance copy gets the lift copy instead.
  if (release.status !== 'scheduled') {
    log.info({ status: release.status }, 'release is not scheduled; no advance copies');
    return 'not-scheduled';
  }
  const remainingMs = instant.getTime() - (await databaseNow(db)).getTime();
  if (remainingMs > 0) {
    log.warn({ remainingMs }, 'advance job fired before its time by the database clock; delaying it');
    await job.moveToDelayed(Date.now() + remainingMs, token);
    throw new DelayedError();
  }

  await deps.renders.get(release, 'advance');
  // Advance copies frozen by an earlier run (before an unschedule, or a crash) may have lost their send jobs.
  let jobs = await requeueUnfinished(deps.ctx, releaseId);
  let cursor = 0;
  for (;;) {
    const chunk = await freezeAudienceChunk(db, releaseId, instant, cursor, config.FANOUT_CHUNK_SIZE, 'advance');
    jobs += await enqueueSends(queues.send, config, releaseId, chunk.queuedIds);
    if (chunk.nextCursor === null) break;
    cursor = chunk.nextCursor;
  }
  log.info({ sendJobs: jobs, lagMs: Date.now() - instant.getTime() }, 'advance copies queued');
  return 'advanced';
}
