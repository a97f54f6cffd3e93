import { sql, type Transaction } from 'kysely';
import type { Context } from '../context';
import { embargoAudit, recordAudit } from '../db/audit';
import { cancelWaiting } from '../db/deliveries';
import { databaseNow, replaceReleaseLists } from '../db/releases';
import type { Database, Release, ReleaseStatus } from '../db/schema';
import { addReleaseJobs, removeLiftJob } from './lift-jobs';
import { requireLead } from './time';

/**
 * Every change to a release's lifecycle lives here, and this is the only code that adds, moves or
 * removes lift jobs. Each change locks the release row, checks its status, writes the change and
 * its audit entry in one transaction, and only then makes the queue match. A change that could
 * leave a lift job pointing at old content bumps the version, which turns that job into a no-op
 * even if removing it loses a race with a worker that already picked it up.
 */

export class TransitionError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Tx = Transaction<Database>;

export interface EmbargoChoice {
  instant: Date;
  timeZone: string;
}

/** What an edit may change; absent fields stay as they are. */
export interface ReleaseChanges {
  title?: string;
  summary?: string | null;
  bodyMarkdown?: string;
  listIds?: number[];
  embargo?: EmbargoChoice;
  contact?: { name: string | null; email: string | null; phone: string | null };
  /** null removes the advance lists. */
  advance?: { listIds: number[]; leadSeconds: number } | null;
}

interface Applied {
  release: Release;
  action: string;
  details?: Record<string, unknown>;
}

const bumpVersion = { version: sql<number>`version + 1`, updated_at: sql<Date>`now()` };

/** Locks the release, refuses the change unless its status allows it, applies it and audits it. */
async function transition(
  ctx: Context,
  releaseId: number,
  actor: string,
  allowed: ReleaseStatus[],
  refusal: string,
  apply: (tx: Tx, current: Release) => Promise<Applied>,
): Promise<{ before: Release; after: Release }> {
  const result = await ctx.db.transaction().execute(async (tx) => {
    const current = await tx.selectFrom('releases').selectAll().where('id', '=', releaseId).forUpdate().executeTakeFirst();
    if (!current) throw new TransitionError(404, 'not_found', `release ${releaseId} does not exist`);
    if (!allowed.includes(current.status)) {
      throw new TransitionError(409, 'conflict', `release ${releaseId} is ${current.status}; ${refusal}`);
    }
    const applied = await apply(tx, current);
    await recordAudit(tx, { releaseId, actor, action: applied.action, details: { ...embargoAudit(current, applied.release), ...applied.details } });
    return { before: current, after: applied.release, action: applied.action };
  });
  const { after, action } = result;
  ctx.log.info({ releaseId, action, status: after.status, version: after.version, sendAt: after.send_at.toISOString() }, `release ${action}`);
  await syncLiftJob(ctx, result.before, after);
  return result;
}

/**
 * Makes the lift queue match a release after a change: no job for the version before, one job for
 * the current version while it is scheduled, due at its send instant. If Redis refuses the new job
 * the release goes back to draft (a new version, so no half-added job can lift it), because a
 * release must never look scheduled without a job to lift it.
 */
async function syncLiftJob(ctx: Context, before: Release, after: Release): Promise<void> {
  const hadJob = before.status === 'scheduled';
  const needsJob = after.status === 'scheduled';
  if (hadJob && needsJob && before.version === after.version) return;
  if (hadJob) await removeLiftJob(ctx.queues.lift, before.id, before.version);
  if (!needsJob) return;
  try {
    await addReleaseJobs(ctx.queues.lift, after);
  } catch (error) {
    await ctx.db.transaction().execute(async (tx) => {
      const reverted = await tx
        .updateTable('releases')
        .set({ status: 'draft', lift_requested_at: null, ...bumpVersion })
        .where('id', '=', after.id)
        .where('version', '=', after.version)
        .where('status', '=', 'scheduled')
        .returningAll()
        .executeTakeFirst();
      if (reverted) {
        await recordAudit(tx, { releaseId: after.id, actor: 'system', action: 'unschedule', details: { ...embargoAudit(after, reverted), reason: 'queue unavailable' } });
      }
    });
    throw new TransitionError(503, 'queue_unavailable', `the lift could not be queued (${(error as Error).message}); the release is now a draft, schedule it again`);
  }
}

async function requireLeadByDatabase(tx: Tx, instant: Date, minLeadSeconds: number): Promise<void> {
  requireLead(instant, await databaseNow(tx), minLeadSeconds);
}

const releaseUpdate = (tx: Tx, releaseId: number) => tx.updateTable('releases').where('id', '=', releaseId);

/** draft → scheduled: one delayed lift job for the current version, due at the embargo. */
export async function scheduleRelease(
  ctx: Context, releaseId: number, actor: string, minLeadSeconds = ctx.config.EMBARGO_MIN_LEAD_SECONDS,
): Promise<Release> {
  const { after } = await transition(ctx, releaseId, actor, ['draft'], 'only a draft can be scheduled', async (tx, current) => {
    await requireLeadByDatabase(tx, current.embargo_at, minLeadSeconds);
    const release = await releaseUpdate(tx, releaseId).set({ status: 'scheduled', updated_at: sql`now()` }).returningAll().executeTakeFirstOrThrow();
    return { release, action: 'schedule' };
  });
  return after;
}

/**
 * Edits a draft or scheduled release. Every edit is a new version; for a scheduled release the
 * lift job is replaced, so the old instant (and old content) sends nothing and the new one sends
 * once. Moving the embargo of a scheduled release is audited as a reschedule. Once fan-out has
 * begun the content and embargo are fixed.
 */
export async function editRelease(ctx: Context, releaseId: number, actor: string, changes: ReleaseChanges): Promise<Release> {
  const { after } = await transition(
    ctx, releaseId, actor, ['draft', 'scheduled'], 'sending has begun, so its content and embargo can no longer change',
    async (tx, current) => {
      if (changes.embargo) await requireLeadByDatabase(tx, changes.embargo.instant, ctx.config.EMBARGO_MIN_LEAD_SECONDS);
      if (changes.listIds) await replaceReleaseLists(tx, releaseId, changes.listIds);
      if (changes.advance !== undefined) await replaceReleaseLists(tx, releaseId, changes.advance?.listIds ?? [], true);
      const release = await releaseUpdate(tx, releaseId)
        .set({
          ...bumpVersion,
          ...(changes.title !== undefined && { title: changes.title }),
          ...(changes.summary !== undefined && { summary: changes.summary }),
          ...(changes.bodyMarkdown !== undefined && { body_md: changes.bodyMarkdown }),
          ...(changes.embargo && { embargo_at: changes.embargo.instant, embargo_time_zone: changes.embargo.timeZone }),
          ...(changes.contact && { contact_name: changes.contact.name, contact_email: changes.contact.email, contact_phone: changes.contact.phone }),
          ...(changes.advance !== undefined && { advance_lead_seconds: changes.advance?.leadSeconds ?? null }),
        })
        .returningAll()
        .executeTakeFirstOrThrow();
      const moved = changes.embargo !== undefined && release.embargo_at.getTime() !== current.embargo_at.getTime();
      return { release, action: moved && current.status === 'scheduled' ? 'reschedule' : 'edit', details: { fields: Object.keys(changes).filter((key) => changes[key as keyof ReleaseChanges] !== undefined) } };
    },
  );
  return after;
}

/** scheduled → draft: its lift job is removed and nothing is sent; an early lift asked for is withdrawn. */
export async function unscheduleRelease(ctx: Context, releaseId: number, actor: string): Promise<Release> {
  const { after } = await transition(ctx, releaseId, actor, ['scheduled'], 'only a scheduled release can be unscheduled', async (tx) => ({
    release: await releaseUpdate(tx, releaseId).set({ status: 'draft', lift_requested_at: null, ...bumpVersion }).returningAll().executeTakeFirstOrThrow(),
    action: 'unschedule',
  }));
  return after;
}

/**
 * Lifts a draft or scheduled release now (a broken embargo, an early publication). The planned
 * embargo is kept for the record; the requested lift becomes the send instant, and a new version's
 * lift job runs at once.
 */
export async function liftRelease(ctx: Context, releaseId: number, actor: string, reason: string): Promise<Release> {
  const { after } = await transition(ctx, releaseId, actor, ['draft', 'scheduled'], 'only a draft or scheduled release can be lifted', async (tx) => ({
    release: await releaseUpdate(tx, releaseId)
      .set({ status: 'scheduled', lift_requested_at: sql`now()`, ...bumpVersion })
      .returningAll()
      .executeTakeFirstOrThrow(),
    action: 'lift',
    details: { reason },
  }));
  return after;
}

/**
 * scheduled | sending → cancelled. Before the lift nothing is sent. During sending, every waiting
 * delivery is cancelled here, in the same transaction; those a send worker has already claimed are
 * cancelled by that worker between messages (src/pipeline/send.ts), so only messages already
 * handed to SMTP still arrive.
 */
export async function cancelRelease(ctx: Context, releaseId: number, actor: string, reason: string): Promise<Release> {
  const { after } = await transition(ctx, releaseId, actor, ['scheduled', 'sending'], 'only a scheduled or sending release can be cancelled', async (tx) => {
    const release = await releaseUpdate(tx, releaseId)
      .set({ status: 'cancelled', cancelled_at: sql`now()`, updated_at: sql`now()` })
      .returningAll()
      .executeTakeFirstOrThrow();
    return { release, action: 'cancel', details: { reason, deliveriesCancelled: await cancelWaiting(tx, releaseId) } };
  });
  return after;
}
