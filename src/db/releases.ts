import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from './index';
import { embargoAudit, recordAudit } from './audit';
import { slugify } from './lists';
import { DELIVERY_STATES, type DeliveryState, type Release } from './schema';

export interface ReleaseDraft {
  title: string;
  summary: string | null;
  bodyMarkdown: string;
  embargoAt: Date;
  embargoTimeZone: string;
  listIds: number[];
  contact: { name: string | null; email: string | null; phone: string | null };
  /** Vetted journalists' lists, sent an embargoed advance copy `leadSeconds` before the embargo. */
  advance: { listIds: number[]; leadSeconds: number } | null;
}

export async function createRelease(db: Db, draft: ReleaseDraft, actor: string): Promise<Release> {
  return db.transaction().execute(async (tx) => {
    const release = await tx
      .insertInto('releases')
      .values({
        slug: `${slugify(draft.title)}-${randomBytes(3).toString('hex')}`,
        title: draft.title,
        summary: draft.summary,
        body_md: draft.bodyMarkdown,
        embargo_at: draft.embargoAt,
        embargo_time_zone: draft.embargoTimeZone,
        created_by: actor,
        contact_name: draft.contact.name,
        contact_email: draft.contact.email,
        contact_phone: draft.contact.phone,
        advance_lead_seconds: draft.advance?.leadSeconds ?? null,
      })
      .returningAll()
      .executeTakeFirstOrThrow();
    await replaceReleaseLists(tx, release.id, draft.listIds);
    if (draft.advance) await replaceReleaseLists(tx, release.id, draft.advance.listIds, true);
    await recordAudit(tx, { releaseId: release.id, actor, action: 'create', details: embargoAudit(null, release) });
    return release;
  });
}

/**
 * Sets a release's lift lists, or (advance) its advance lists, in the order given (someone on
 * several is addressed through the first); the other kind is left as it is.
 */
export async function replaceReleaseLists(db: Db, releaseId: number, listIds: number[], advance = false): Promise<void> {
  await db.deleteFrom('release_lists').where('release_id', '=', releaseId).where('advance', '=', advance).execute();
  if (listIds.length === 0) return;
  await db
    .insertInto('release_lists')
    .values(listIds.map((listId, position) => ({ release_id: releaseId, list_id: listId, position, advance })))
    .execute();
}

export async function findRelease(db: Db, id: number): Promise<Release | null> {
  return (await db.selectFrom('releases').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/** The lists a release is sent to at its lift, or (advance) ahead of it. */
export async function releaseListIds(db: Db, releaseId: number, advance = false): Promise<number[]> {
  const rows = await db
    .selectFrom('release_lists')
    .select('list_id')
    .where('release_id', '=', releaseId)
    .where('advance', '=', advance)
    .orderBy('position')
    .execute();
  return rows.map((r) => r.list_id);
}

/** Counts by delivery state; for a release whose rows retention pruned, the counts it kept. */
export async function deliveryCounts(db: Db, releaseId: number): Promise<Record<DeliveryState, number>> {
  const kept = await db.selectFrom('releases').select('delivery_counts').where('id', '=', releaseId).executeTakeFirst();
  if (kept?.delivery_counts) return kept.delivery_counts;
  const rows = await db
    .selectFrom('deliveries')
    .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
    .where('release_id', '=', releaseId)
    .groupBy('state')
    .execute();
  const counts = Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>;
  for (const row of rows) counts[row.state] = Number(row.n);
  return counts;
}

/** The database clock: every embargo decision is taken against it, never a worker's clock. */
export async function databaseNow(db: Db): Promise<Date> {
  const { rows } = await sql<{ now: Date }>`SELECT now() AS now`.execute(db);
  return rows[0]!.now;
}

/** A release whose lift (or advance send) needs a job: scheduled, or sending with its fan-out unfinished. */
export type Liftable = Pick<Release, 'id' | 'version' | 'status' | 'send_at' | 'embargo_at' | 'advance_lead_seconds' | 'lift_requested_at' | 'fanout_done_at' | 'advance_sent_at'>;

/** Every release reconcile must give a lift job: few rows, served by releases_status. */
export async function liftableReleases(db: Db): Promise<Liftable[]> {
  return db
    .selectFrom('releases')
    .select(['id', 'version', 'status', 'send_at', 'embargo_at', 'advance_lead_seconds', 'lift_requested_at', 'fanout_done_at', 'advance_sent_at'])
    .where((eb) => eb.or([eb('status', '=', 'scheduled'), eb.and([eb('status', '=', 'sending'), eb('fanout_done_at', 'is', null)])]))
    .orderBy('send_at')
    .execute();
}

/**
 * Lifts that are late by PostgreSQL's clock, more than `graceSeconds` after their send instant:
 * releases still scheduled (no worker, a lost job, a pause) or whose fan-out has not finished.
 * Late lifts that did happen are in latelyLifted.
 */
export async function overdueLifts(db: Db, graceSeconds: number): Promise<Array<{ id: number; version: number; sendAt: Date; lateSeconds: number }>> {
  const { rows } = await sql<{ id: number; version: number; send_at: Date; late_seconds: number }>`
    SELECT id, version, send_at, extract(epoch FROM now() - send_at)::int AS late_seconds FROM releases
    WHERE (status = 'scheduled' OR (status = 'sending' AND fanout_done_at IS NULL))
      AND send_at < now() - make_interval(secs => ${graceSeconds})
    ORDER BY send_at`.execute(db);
  return rows.map((r) => ({ id: r.id, version: r.version, sendAt: r.send_at, lateSeconds: r.late_seconds }));
}

/** Releases lifted in the last day more than `thresholdSeconds` after their send instant (a lift that happened late). */
export async function latelyLifted(db: Db, thresholdSeconds: number): Promise<Array<{ id: number; version: number; lagSeconds: number }>> {
  const { rows } = await sql<{ id: number; version: number; lag_seconds: number }>`
    SELECT id, version, extract(epoch FROM lifted_at - send_at)::int AS lag_seconds FROM releases
    WHERE lifted_at > now() - interval '1 day' AND lifted_at > send_at + make_interval(secs => ${thresholdSeconds})`.execute(db);
  return rows.map((r) => ({ id: r.id, version: r.version, lagSeconds: r.lag_seconds }));
}

/** Releases that completed in the last day with failed deliveries, with their counts (served by deliveries_release_state). */
export async function finishedWithFailures(db: Db): Promise<Array<{ id: number; completedAt: Date; failed: number; total: number }>> {
  const { rows } = await sql<{ id: number; completed_at: Date; failed: number; total: number }>`
    SELECT r.id, r.completed_at, c.failed, c.total FROM releases r
    CROSS JOIN LATERAL (
      SELECT count(*) FILTER (WHERE d.state = 'failed')::int AS failed, count(*)::int AS total FROM deliveries d WHERE d.release_id = r.id
    ) c
    WHERE r.status = 'sent' AND r.completed_at > now() - interval '1 day' AND c.failed > 0`.execute(db);
  return rows.map((r) => ({ id: r.id, completedAt: r.completed_at, failed: r.failed, total: r.total }));
}
