import { sql } from 'kysely';
import type { Context } from '../context';
import { recordAudit } from '../db/audit';
import type { Release } from '../db/schema';
import { addLiftJob } from './lift-jobs';

export class TransitionError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * draft → scheduled, then one delayed lift job for the current version. The row changes first,
 * conditionally, so scheduling twice is refused; if Redis refuses the job the change is undone,
 * so a release is never shown as scheduled without a job to lift it.
 */
export async function scheduleRelease(ctx: Context, releaseId: number, actor: string, minLeadSeconds: number): Promise<Release> {
  const release = await ctx.db.transaction().execute(async (tx) => {
    const current = await tx.selectFrom('releases').selectAll().where('id', '=', releaseId).forUpdate().executeTakeFirst();
    if (!current) throw new TransitionError(404, 'not_found', `release ${releaseId} does not exist`);
    if (current.status !== 'draft') {
      throw new TransitionError(409, 'conflict', `release ${releaseId} is ${current.status}; only a draft can be scheduled`);
    }
    const { rows } = await sql<{ lead: number }>`SELECT extract(epoch FROM ${current.embargo_at}::timestamptz - now())::float8 AS lead`.execute(tx);
    if (rows[0]!.lead < minLeadSeconds) {
      throw new TransitionError(
        400,
        'embargo_too_soon',
        `embargo.at is ${rows[0]!.lead < 0 ? 'in the past' : `less than ${minLeadSeconds}s away`}; move it later, or lift the release to send now`,
      );
    }
    const updated = await tx
      .updateTable('releases')
      .set({ status: 'scheduled', updated_at: new Date() })
      .where('id', '=', releaseId)
      .returningAll()
      .executeTakeFirstOrThrow();
    await recordAudit(tx, { releaseId, actor, action: 'schedule', details: { embargoAfter: updated.embargo_at.toISOString() } });
    return updated;
  });

  try {
    await addLiftJob(ctx.queues.lift, release.id, release.version, release.embargo_at);
  } catch (error) {
    await ctx.db.transaction().execute(async (tx) => {
      await tx.updateTable('releases').set({ status: 'draft' }).where('id', '=', releaseId).where('status', '=', 'scheduled').execute();
      await recordAudit(tx, { releaseId, actor: 'system', action: 'unschedule', details: { reason: 'queue unavailable' } });
    });
    throw new TransitionError(503, 'queue_unavailable', `the lift could not be queued (${(error as Error).message}); the release stays a draft`);
  }
  ctx.log.info({ releaseId, version: release.version, embargoAt: release.embargo_at.toISOString() }, 'release scheduled');
  return release;
}
