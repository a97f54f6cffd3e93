import { DelayedError, type Job } from 'bullmq';
import { databaseNow, findRelease } from '../db/releases.js';
import type { LiftJob } from '../queue/index.js';
import { advanceAt } from '../releases/jobs.js';
import { freezeStage, type LiftDeps } from './lift.js';

export type AdvanceOutcome = 'stale' | 'not-scheduled' | 'advanced';

/**
 * Sends a release version's advance copies: at the advance time (judged by PostgreSQL's clock,
 * like the lift) freezes the members of its advance lists who had joined by then into advance
 * deliveries of this version, and queues them. The release stays scheduled and embargoed; its
 * lift later sends everyone else. Every chunk is frozen under a conditional read of this version
 * (see freezeAudienceChunk), so an edit racing the step leaves nothing of the old version behind.
 * Safe to run again at any time, even after the job's record expired: it freezes the same people.
 */
export async function processAdvance(deps: LiftDeps, job: Job<LiftJob>, token?: string): Promise<AdvanceOutcome> {
  const { db } = deps.ctx;
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
  const jobs = await freezeStage(deps.ctx, job, token, release, 'advance', instant, true);
  log.info({ sendJobs: jobs, lagMs: Date.now() - instant.getTime() }, 'advance copies queued');
  return 'advanced';
}
