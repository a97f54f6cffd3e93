import { sql } from 'kysely';
import type { Context } from '../context';
import { recordAudit } from '../db/audit';
import { TransitionError } from '../embargo/scheduling';
import { enqueueSends } from '../pipeline/enqueue';

export interface RetryResult {
  releaseId: number;
  retried: number;
  sendJobs: number;
}

/**
 * Staff retry of a release's failed deliveries (the CLI and the API both call this):
 * failed → queued and, for a finished release, sent → sending, in one transaction, then send jobs.
 * If Redis refuses the jobs, the rows stay queued under a sending release, which is exactly what
 * the workers' standing sweep (and `presslift reconcile`) re-queues, so nothing is lost.
 */
export async function retryFailedDeliveries(ctx: Context, releaseId: number, actor: string): Promise<RetryResult> {
  const ids = await ctx.db.transaction().execute(async (tx) => {
    const release = await tx.selectFrom('releases').select(['status']).where('id', '=', releaseId).forUpdate().executeTakeFirst();
    if (!release) throw new TransitionError(404, 'not_found', `release ${releaseId} does not exist`);
    if (release.status !== 'sent' && release.status !== 'sending') {
      throw new TransitionError(409, 'conflict', `release ${releaseId} is ${release.status}; only a sending or sent release has deliveries to retry`);
    }
    const { rows } = await sql<{ id: number }>`
      UPDATE deliveries SET state = 'queued', lease_until = NULL, updated_at = now()
      WHERE release_id = ${releaseId} AND state = 'failed'
      RETURNING id`.execute(tx);
    if (rows.length > 0 && release.status === 'sent') {
      await tx.updateTable('releases').set({ status: 'sending', completed_at: null, updated_at: new Date() }).where('id', '=', releaseId).execute();
    }
    await recordAudit(tx, { releaseId, actor, action: 'retry-failed', details: { deliveries: rows.length } });
    return rows.map((r) => r.id).sort((a, b) => a - b);
  });
  const sendJobs = await enqueueSends(ctx.queues.send, ctx.config, releaseId, ids);
  ctx.log.info({ releaseId, retried: ids.length, sendJobs, actor }, 'failed deliveries queued again');
  return { releaseId, retried: ids.length, sendJobs };
}
