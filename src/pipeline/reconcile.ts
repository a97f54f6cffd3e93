import { sql } from 'kysely';
import type { Context } from '../context';
import { addLiftJob, advanceAt, liftJobId } from '../embargo/lift-jobs';
import { applyPauseState } from '../ops/pause';
import { requeueUnfinished } from './lift';

export interface ReconcileResult {
  liftJobs: number;
  sendJobs: number;
}

/**
 * Rebuilds Redis's picture from PostgreSQL, the source of truth (invariant 3): every scheduled
 * release, and every release whose fan-out did not finish, gets its lift job; every unfinished
 * delivery gets a send job, and a pause is re-applied. Running it when nothing was lost only adds harmless duplicates.
 */
export async function reconcile(ctx: Context): Promise<ReconcileResult> {
  // An emergency stop outlives Redis: re-pause before restoring any job a worker could take.
  if (await applyPauseState(ctx)) ctx.log.warn('sending is paused; restored jobs wait for `presslift resume`');
  const { rows } = await sql<{ id: number; version: number; send_at: Date; embargo_at: Date; advance_lead_seconds: number | null; lift_requested_at: Date | null; status: string; fanout_done_at: Date | null }>`
    SELECT id, version, send_at, embargo_at, advance_lead_seconds, lift_requested_at, status, fanout_done_at FROM releases
    WHERE status = 'scheduled' OR status = 'sending'`.execute(ctx.db);
  const result: ReconcileResult = { liftJobs: 0, sendJobs: 0 };
  for (const release of rows) {
    if (release.status === 'scheduled' || release.fanout_done_at === null) {
      const existing = await ctx.queues.lift.getJob(liftJobId(release.id, release.version));
      if (existing && (await existing.isFailed())) await existing.retry();
      else if (!existing) await addLiftJob(ctx.queues.lift, release.id, release.version, release.send_at);
      result.liftJobs += 1;
    }
    // A re-run advance send adds no copy twice: its deliveries are unique per recipient.
    const advance = advanceAt(release);
    if (release.status === 'scheduled' && advance && !(await ctx.queues.lift.getJob(liftJobId(release.id, release.version, 'advance')))) {
      await addLiftJob(ctx.queues.lift, release.id, release.version, advance, 'advance');
      result.liftJobs += 1;
    }
    if (release.status === 'sending') result.sendJobs += await requeueUnfinished(ctx, release.id);
  }
  if (result.liftJobs + result.sendJobs > 0) ctx.log.info(result, 'reconciled queues with PostgreSQL');
  return result;
}
