import { DelayedError, type Job } from 'bullmq';
import { sql } from 'kysely';
import type { Context } from '../context';
import { completeIfDone, freezeAudienceChunk, unfinishedDeliveryIds } from '../db/deliveries';
import { databaseNow, deliveryCounts, findRelease } from '../db/releases';
import type { LiftJob } from '../queue';
import type { RenderCache } from '../render/store';
import { enqueueSends } from './enqueue';

export interface LiftDeps {
  ctx: Context;
  renders: RenderCache;
}

export type LiftOutcome = 'stale' | 'not-scheduled' | 'lifted';

/**
 * Lifts the embargo of one release version: freezes its audience into delivery rows and queues
 * the send jobs. Safe to run twice, and a no-op for a superseded version (invariant 2).
 */
export async function processLift(deps: LiftDeps, job: Job<LiftJob>, token?: string): Promise<LiftOutcome> {
  const { db, config, queues } = deps.ctx;
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

  // Invariant 1: this process's clock may run fast, so the embargo is judged by PostgreSQL's.
  const remainingMs = release.embargo_at.getTime() - (await databaseNow(db)).getTime();
  if (release.status === 'scheduled' && remainingMs > 0) {
    log.warn({ remainingMs }, 'lift job fired before the embargo by the database clock; delaying it');
    await job.moveToDelayed(Date.now() + remainingMs, token);
    throw new DelayedError();
  }

  // Compile before lifting, so every send worker finds the email ready (one MJML compile a version).
  await deps.renders.get(release);

  const { rows } = await sql<{ lifted_at: Date }>`
    UPDATE releases SET status = 'sending', lifted_at = coalesce(lifted_at, now()), updated_at = now()
    WHERE id = ${releaseId} AND version = ${version} AND status IN ('scheduled', 'sending') AND fanout_done_at IS NULL
      AND embargo_at <= now()
    RETURNING lifted_at`.execute(db);
  const liftedAt = rows[0]?.lifted_at;
  if (!liftedAt) {
    log.info('release changed while lifting; nothing to do');
    return 'stale';
  }
  log.info({ lagMs: liftedAt.getTime() - release.embargo_at.getTime() }, 'embargo lifted; freezing the audience');

  let cursor = 0;
  let jobs = 0;
  for (;;) {
    const chunk = await freezeAudienceChunk(db, releaseId, liftedAt, cursor, config.FANOUT_CHUNK_SIZE);
    jobs += await enqueueSends(queues.send, config, releaseId, chunk.queuedIds);
    if (chunk.nextCursor === null) break;
    cursor = chunk.nextCursor;
  }
  // A lift that crashed half-way created rows whose send jobs may be lost: queue them again.
  if (resuming) jobs += await requeueUnfinished(deps.ctx, releaseId);

  await db.updateTable('releases').set({ fanout_done_at: new Date() }).where('id', '=', releaseId).where('status', '=', 'sending').execute();
  const counts = await deliveryCounts(db, releaseId);
  log.info({ counts, sendJobs: jobs, fanoutMs: Date.now() - liftedAt.getTime() }, 'audience frozen and send jobs queued');
  if (await completeIfDone(db, releaseId)) log.info({ counts }, 'release sent (nothing to deliver)');
  return 'lifted';
}

/** Queues a send job for every delivery of a release that is waiting or stuck under an expired lease. */
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
