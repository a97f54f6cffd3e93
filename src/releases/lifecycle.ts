import type { Transaction } from 'kysely';
import type { Config } from '../config.js';
import type { Db } from '../db/index.js';
import type { Logger } from '../log.js';
import type { Queues } from '../queue/index.js';
import { insertAttachment, type AttachmentSummary, type NewAttachment } from '../db/attachments.js';
import { embargoAudit, recordAudit } from '../db/audit.js';
import { cancelWaiting, discardStaged, requeueFailed } from '../db/deliveries.js';
import { slugify } from '../db/lists.js';
import {
  applyEdit,
  databaseNow,
  insertRelease,
  lockRelease,
  markCancelled,
  markChanged,
  markDraft,
  markLiftRequested,
  markReopened,
  markScheduled,
  markSending,
  markSent,
  releaseListIds,
  setReleaseLists,
  type Expected,
  type ReleaseDraft,
  type ReleaseFields,
} from '../db/releases.js';
import type { Database, Release } from '../db/schema.js';
import type { ReleaseStatus } from '../states.js';
import { requireLead } from '../embargo/time.js';
import { DomainError, QueueUnavailableError } from '../errors.js';
import { enqueueSends } from '../queue/send-jobs.js';
import { addReleaseJobs, removeReleaseJobs } from './jobs.js';
import { tellHolders, type Notice, type Told } from './notices.js';

/** What a transition needs: the release's rows, its jobs, the lead-time rules, and a log line. */
export interface LifecycleDeps {
  config: Config;
  db: Db;
  queues: Queues;
  log: Logger;
}

/**
 * The release lifecycle, in one place: every change of a release's status or version is a named
 * function here, and nothing else writes either.
 *
 *   draft → scheduled → sending → sent;  scheduled → draft;  draft | scheduled → scheduled (lift now);
 *   draft | scheduled → same status, new version (edit; a file added to a draft);
 *   scheduled | sending → cancelled;  sending | sent → sending (failed deliveries retried).
 *
 * Each transition locks the release row, refuses unless the status allows it (TRANSITIONS), writes
 * its one conditional UPDATE on the status and version it found (src/db/releases.ts), settles the
 * deliveries staged for the old plan, and records its audit entry, all in one transaction; only
 * then are the queue's jobs made to match. A change that alters what is sent, when, or to whom
 * makes a new version: the old version's jobs become no-ops even if removing them loses a race,
 * and its staged advance copies are discarded here (or, if a worker holds them, by that worker
 * before its next message), so no staged row ever leaves with an outdated instant, audience or text.
 *
 * A change that people already holding a copy must hear of (the embargo moved, lifted early, the
 * release withdrawn, its text corrected) freezes its notices in the same transaction (see
 * src/releases/notices.ts): one per holder per change, so a retried request or a crash can never
 * tell anyone twice. They are queued before the lift queue is touched, so a lift-now's notices
 * are in the send queue ahead of its lift job.
 */

/** The statuses each action may start from, and what a refusal says. */
export const TRANSITIONS = {
  schedule: { from: ['draft'], refusal: 'only a draft can be scheduled' },
  edit: { from: ['draft', 'scheduled'], refusal: 'sending has begun, so its content and embargo can no longer change' },
  attach: { from: ['draft'], refusal: 'files can be added only to a draft' },
  unschedule: { from: ['scheduled'], refusal: 'only a scheduled release can be unscheduled' },
  lift: { from: ['draft', 'scheduled'], refusal: 'only a draft or scheduled release can be lifted' },
  cancel: { from: ['scheduled', 'sending'], refusal: 'only a scheduled or sending release can be cancelled' },
  retry: { from: ['sending', 'sent'], refusal: 'only a sending or sent release has deliveries to retry' },
  correct: {
    from: ['sent'],
    refusal: 'only a sent release can be corrected this way; edit a draft or scheduled release instead',
  },
} as const satisfies Record<string, { from: readonly ReleaseStatus[]; refusal: string }>;

export type Action = keyof typeof TRANSITIONS;

/** A lifecycle change refused: the release does not exist, or its status does not allow it. */
export class TransitionError extends DomainError {}

type Tx = Transaction<Database>;

/** Who asked for a change, as the audit names them (`account:…`, `token:…`, `cli:…`, `system`). */
type Actor = string;

interface Applied<T> {
  release: Release;
  /** The audit action, when it differs from the transition's name (an edit that moves the embargo is a reschedule). */
  audited?: string;
  details?: Record<string, unknown>;
  result?: T;
  /** The change to tell whoever holds a copy of the release about (invariant 8). */
  notice?: Notice;
}

/** Runs one transition: lock, check, apply, settle staged rows, audit; then syncs the jobs. */
async function transition<T = undefined>(
  ctx: LifecycleDeps,
  releaseId: number,
  actor: Actor,
  action: Action,
  apply: (tx: Tx, current: Release, expected: Expected) => Promise<Applied<T>>,
): Promise<{ release: Release; result: T | undefined; told: Told | null }> {
  const rule = TRANSITIONS[action];
  const { before, applied, told } = await ctx.db.transaction().execute(async (tx) => {
    const current = await lockRelease(tx, releaseId);
    if (!current) throw new TransitionError('not_found', `release ${releaseId} does not exist`);
    if (!(rule.from as readonly ReleaseStatus[]).includes(current.status)) {
      throw new TransitionError('conflict', `release ${releaseId} is ${current.status}; ${rule.refusal}`);
    }
    const applied = await apply(tx, current, { id: releaseId, version: current.version, from: rule.from });
    const discarded =
      applied.release.version > current.version ? await discardStaged(tx, releaseId, applied.release.version) : 0;
    const told = applied.notice ? await tellHolders(ctx.config, tx, applied.release, actor, applied.notice) : null;
    const details = {
      ...embargoAudit(current, applied.release),
      ...applied.details,
      ...(discarded > 0 && { stagedDiscarded: discarded }),
      ...(told && {
        notice: {
          changeId: told.changeId,
          kind: told.kind,
          recipients: told.queuedIds.length,
          superseded: told.superseded,
          keysRevoked: told.keysRevoked,
        },
      }),
    };
    await recordAudit(tx, { releaseId, actor, action: applied.audited ?? action, details });
    return { before: current, applied, told };
  });
  const after = applied.release;
  ctx.log.info(
    {
      releaseId,
      action: applied.audited ?? action,
      status: after.status,
      version: after.version,
      sendAt: after.send_at.toISOString(),
    },
    `release ${applied.audited ?? action}`,
  );
  if (told) await queueNotices(ctx, releaseId, told);
  await syncJobs(ctx, before, after);
  return { release: after, result: applied.result, told };
}

/**
 * Queues a change's notices. They are already waiting in PostgreSQL: if Redis refuses them,
 * reconcile (and every worker start) queues them, so the change itself stands.
 */
async function queueNotices(ctx: LifecycleDeps, releaseId: number, told: Told): Promise<void> {
  try {
    const sendJobs = await enqueueSends(ctx.queues.send, ctx.config, releaseId, told.queuedIds);
    ctx.log.info(
      {
        releaseId,
        changeId: told.changeId,
        kind: told.kind,
        notices: told.queuedIds.length,
        superseded: told.superseded,
        sendJobs,
      },
      'change notices queued',
    );
  } catch (error) {
    ctx.log.warn(
      { releaseId, changeId: told.changeId, err: (error as Error).message },
      'change notices are waiting in PostgreSQL but Redis did not take their jobs; reconcile queues them',
    );
  }
}

/** The row a transition's conditional UPDATE returned; under the row lock it always matches. */
function updated(row: Release | null, expected: Expected): Release {
  if (!row)
    throw new TransitionError('conflict', `release ${expected.id} changed while it was being updated; try again`);
  return row;
}

/**
 * Makes the lift queue match a release after a change: no job for the version before, the jobs of
 * the current version while it is scheduled. If Redis refuses the new jobs the release goes back to
 * draft (a new version, so no half-added job can lift it), because a release must never look
 * scheduled without a job to lift it.
 */
async function syncJobs(ctx: LifecycleDeps, before: Release, after: Release): Promise<void> {
  const hadJobs = before.status === 'scheduled';
  const needsJobs = after.status === 'scheduled';
  if (hadJobs && needsJobs && before.version === after.version) return;
  if (hadJobs) await removeReleaseJobs(ctx.queues.lift, before.id, before.version);
  if (!needsJobs) return;
  try {
    await addReleaseJobs(ctx.queues.lift, after);
  } catch (error) {
    await ctx.db.transaction().execute(async (tx) => {
      const reverted = await markDraft(tx, { id: after.id, version: after.version, from: ['scheduled'] });
      if (!reverted) return;
      await discardStaged(tx, after.id, reverted.version);
      await recordAudit(tx, {
        releaseId: after.id,
        actor: 'system',
        action: 'unschedule',
        details: { ...embargoAudit(after, reverted), reason: 'queue unavailable' },
      });
    });
    throw new QueueUnavailableError(
      `the lift could not be queued (${(error as Error).message}); the release is now a draft, schedule it again`,
    );
  }
}

/**
 * A list is an advance list or a lift list, never both: checked here, under the lock, against the lists as they stand.
 */
function requireSeparateLists(liftListIds: number[], advanceListIds: number[]): void {
  const both = advanceListIds.filter((id) => liftListIds.includes(id));
  if (both.length > 0) {
    throw new DomainError(
      'invalid_input',
      `advance.listIds: list ${both.join(', ')} is already a lift list; a list is one or the other`,
      'advance.listIds',
    );
  }
}

export interface NewRelease extends Omit<ReleaseDraft, 'advanceLeadSeconds'> {
  listIds: number[];
  /** Vetted journalists' lists, sent an embargoed advance copy `leadSeconds` before the embargo. */
  advance: { listIds: number[]; leadSeconds: number } | null;
}

/** → draft, version 1, with its lists. */
export async function createRelease(ctx: LifecycleDeps, draft: NewRelease, actor: Actor): Promise<Release> {
  requireSeparateLists(draft.listIds, draft.advance?.listIds ?? []);
  return ctx.db.transaction().execute(async (tx) => {
    const release = await insertRelease(
      tx,
      { ...draft, advanceLeadSeconds: draft.advance?.leadSeconds ?? null },
      actor,
    );
    await setReleaseLists(tx, release.id, { lift: draft.listIds, advance: draft.advance?.listIds ?? [] });
    await recordAudit(tx, { releaseId: release.id, actor, action: 'create', details: embargoAudit(null, release) });
    return release;
  });
}

async function requireLeadByDatabase(tx: Tx, instant: Date, minLeadSeconds: number): Promise<void> {
  requireLead(instant, await databaseNow(tx), minLeadSeconds);
}

/** draft → scheduled, same version: its lift (and advance) job, due at the embargo. */
export async function scheduleRelease(
  ctx: LifecycleDeps,
  releaseId: number,
  actor: Actor,
  minLeadSeconds = ctx.config.EMBARGO_MIN_LEAD_SECONDS,
): Promise<Release> {
  const { release } = await transition(ctx, releaseId, actor, 'schedule', async (tx, current, expected) => {
    await requireLeadByDatabase(tx, current.embargo_at, minLeadSeconds);
    // Holders of a withdrawn advance copy are sent the release as it now stands, under its embargo.
    return {
      release: updated(await markScheduled(tx, expected), expected),
      notice: { kind: 'corrected', note: 'the release was withdrawn and is now issued again' },
    };
  });
  return release;
}

/** What an edit may change; absent fields stay as they are. */
export interface ReleaseChanges extends Omit<ReleaseFields, 'advanceLeadSeconds'> {
  listIds?: number[];
  /** Staff's short note of what changed, for the holders' corrected copy. */
  note?: string | null;
  /** null removes the advance lists. */
  advance?: { listIds: number[]; leadSeconds: number } | null;
}

/**
 * Edits a draft or scheduled release: a new version, so for a scheduled release the old instant
 * (and old content) sends nothing and the new one sends once, and advance copies staged but not
 * yet sent are discarded and re-staged by the new version's advance step, at its instant, for the
 * people its lists then name. Moving the embargo of a scheduled release is audited as a reschedule.
 */
export async function editRelease(
  ctx: LifecycleDeps,
  releaseId: number,
  actor: Actor,
  changes: ReleaseChanges,
): Promise<Release> {
  const { release } = await transition(ctx, releaseId, actor, 'edit', async (tx, current, expected) => {
    if (changes.embargo) await requireLeadByDatabase(tx, changes.embargo.instant, ctx.config.EMBARGO_MIN_LEAD_SECONDS);
    const advanceListIds = changes.advance === undefined ? undefined : (changes.advance?.listIds ?? []);
    if (changes.listIds || advanceListIds) {
      requireSeparateLists(
        changes.listIds ?? (await releaseListIds(tx, releaseId)),
        advanceListIds ?? (await releaseListIds(tx, releaseId, true)),
      );
      await setReleaseLists(tx, releaseId, { lift: changes.listIds, advance: advanceListIds });
    }
    const { listIds: _, advance, note, ...fields } = changes;
    const release = updated(
      await applyEdit(tx, expected, {
        ...fields,
        ...(advance !== undefined && { advanceLeadSeconds: advance?.leadSeconds ?? null }),
      }),
      expected,
    );
    const moved = changes.embargo !== undefined && release.embargo_at.getTime() !== current.embargo_at.getTime();
    // What holders of an advance copy are told: only what really changed, so a repeated identical edit tells nobody
    // anything.
    const rewritten =
      release.title !== current.title || release.summary !== current.summary || release.body_md !== current.body_md;
    const notice: Notice | undefined =
      current.status !== 'scheduled'
        ? undefined
        : rewritten
          ? { kind: 'corrected', note, previousEmbargoAt: moved ? current.embargo_at : null }
          : moved
            ? { kind: 'moved', note, previousEmbargoAt: current.embargo_at }
            : undefined;
    return {
      release,
      audited: moved && current.status === 'scheduled' ? 'reschedule' : 'edit',
      // The release's fields the edit named; the note for holders is not one of them.
      details: {
        fields: Object.keys(changes).filter(
          (key) => key !== 'note' && changes[key as keyof ReleaseChanges] !== undefined,
        ),
        ...(note ? { note } : {}),
      },
      notice,
    };
  });
  return release;
}

/** A file added to a draft: a new version, so nothing compiled before the file existed is used again. */
export async function addReleaseFile(
  ctx: LifecycleDeps,
  releaseId: number,
  actor: Actor,
  file: NewAttachment,
): Promise<AttachmentSummary> {
  const { result } = await transition(ctx, releaseId, actor, 'attach', async (tx, _current, expected) => {
    const added = await insertAttachment(tx, releaseId, file);
    return {
      release: updated(await markChanged(tx, expected), expected),
      details: { attachmentId: added.id },
      result: added,
    };
  });
  return result!;
}

/**
 * scheduled → draft, a new version: its jobs are removed, its staged advance copies discarded, nothing more is sent.
 */
export async function unscheduleRelease(ctx: LifecycleDeps, releaseId: number, actor: Actor): Promise<Release> {
  const { release } = await transition(ctx, releaseId, actor, 'unschedule', async (tx, _current, expected) => ({
    release: updated(await markDraft(tx, expected), expected),
    notice: { kind: 'withdrawn' },
  }));
  return release;
}

/**
 * Lifts a draft or scheduled release now (a broken embargo, an early publication): a new version
 * whose send instant is now and whose lift job runs at once. The planned embargo is kept for the
 * record. Advance copies not yet sent are discarded: their people get the lift copy.
 */
export async function liftRelease(
  ctx: LifecycleDeps,
  releaseId: number,
  actor: Actor,
  reason: string,
): Promise<Release> {
  const { release } = await transition(ctx, releaseId, actor, 'lift', async (tx, current, expected) => ({
    release: updated(await markLiftRequested(tx, expected), expected),
    details: { reason },
    notice: { kind: 'lifted', previousEmbargoAt: current.embargo_at },
  }));
  return release;
}

/**
 * scheduled | sending → cancelled. Before the lift nothing more is sent. Every waiting delivery is
 * cancelled here, in the same transaction; those a send worker holds are cancelled by that worker
 * before its next message (src/pipeline/send.ts), so only messages already handed to SMTP arrive.
 */
export async function cancelRelease(
  ctx: LifecycleDeps,
  releaseId: number,
  actor: Actor,
  reason: string,
): Promise<Release> {
  const { release } = await transition(ctx, releaseId, actor, 'cancel', async (tx, _current, expected) => ({
    release: updated(await markCancelled(tx, expected), expected),
    details: { reason, deliveriesCancelled: await cancelWaiting(tx, releaseId) },
    notice: { kind: 'withdrawn' },
  }));
  return release;
}

/** What a correction after the lift may change; the note is required (it heads the correction). */
export interface Correction {
  title?: string;
  summary?: string | null;
  bodyMarkdown?: string;
  note: string;
}

/**
 * Corrects a sent release: a new version with the corrected text (the public page and feed show
 * it, with a dated "Corrected" line), and a CORRECTION copy, the note at its top, to everyone who
 * was sent the release and is still subscribed. Frozen and compiled once in the transaction, sent
 * by the same pipeline as every copy.
 */
export async function correctRelease(
  ctx: LifecycleDeps,
  releaseId: number,
  actor: Actor,
  correction: Correction,
): Promise<{ release: Release; changeId: number; recipients: number }> {
  const { release, told } = await transition(ctx, releaseId, actor, 'correct', async (tx, _current, expected) => {
    const { note, ...fields } = correction;
    return {
      release: updated(await applyEdit(tx, expected, fields), expected),
      audited: 'correction',
      details: { note, fields: Object.keys(fields).filter((key) => fields[key as keyof typeof fields] !== undefined) },
      notice: { kind: 'correction', note },
    };
  });
  return { release, changeId: told!.changeId, recipients: told!.queuedIds.length };
}

export interface RetryResult {
  releaseId: number;
  retried: number;
  sendJobs: number;
}

/**
 * Staff retry of a release's failed deliveries: failed → queued and, for a finished release,
 * sent → sending, in one transaction, then send jobs. If Redis refuses the jobs, the rows stay
 * queued under a sending release, which reconcile (and every worker start) queues again.
 */
export async function retryFailed(ctx: LifecycleDeps, releaseId: number, actor: Actor): Promise<RetryResult> {
  const { result: ids = [] } = await transition(ctx, releaseId, actor, 'retry', async (tx, current, expected) => {
    const ids = await requeueFailed(tx, releaseId);
    const reopened =
      ids.length > 0 && current.status === 'sent'
        ? updated(await markReopened(tx, { ...expected, from: ['sent'] }), expected)
        : current;
    return { release: reopened, audited: 'retry-failed', details: { deliveries: ids.length }, result: ids };
  });
  let sendJobs: number;
  try {
    sendJobs = await enqueueSends(ctx.queues.send, ctx.config, releaseId, ids);
  } catch (error) {
    throw new QueueUnavailableError(
      `${ids.length} deliveries are queued again in PostgreSQL, but Redis did not take their jobs (${(error as Error).message}); \`presslift reconcile\` or the next worker start sends them`,
    );
  }
  ctx.log.info({ releaseId, retried: ids.length, sendJobs, actor }, 'failed deliveries queued again');
  return { releaseId, retried: ids.length, sendJobs };
}

/** The public page's address: made once, at the lift, from the title then current. The id keeps it unique. */
export function publicSlug(release: Pick<Release, 'id' | 'title'>): string {
  return `${slugify(release.title, 'release')}-${release.id}`;
}

/**
 * scheduled → sending: the lift, by the lift worker, of releases due at one instant, each for the
 * version its job was made for (as the worker read it) and only once the send instant has passed by
 * PostgreSQL's clock. Returns those lifted: not one that moved on (a new version, a cancellation)
 * or is not yet due. The public slug is made here, from the title of that version, the one being lifted.
 */
export async function beginSending(ctx: LifecycleDeps, releases: Release[]): Promise<Release[]> {
  return markSending(
    ctx.db,
    releases.map((release) => ({
      id: release.id,
      version: release.version,
      slug: publicSlug(release),
      audit: { actor: 'system', details: embargoAudit(release, release) },
    })),
  );
}

/**
 * sending → sent once fan-out is complete and no delivery is waiting or in flight; of several
 * workers finishing at once exactly one completes it. Null when there is still work (or it was done).
 */
export async function completeRelease(ctx: LifecycleDeps, releaseId: number): Promise<Release | null> {
  return ctx.db.transaction().execute(async (tx) => {
    const release = await markSent(tx, releaseId);
    if (release)
      await recordAudit(tx, { releaseId, actor: 'system', action: 'completed', details: { version: release.version } });
    return release;
  });
}
