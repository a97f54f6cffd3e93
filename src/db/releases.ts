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

export async function deliveryCounts(db: Db, releaseId: number): Promise<Record<DeliveryState, number>> {
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
