import { sql } from 'kysely';
import type { Recipient } from './deliveries.js';
import type { Db } from './index.js';
import { releaseListIds } from './releases.js';
import type { SuppressionSource } from './schema.js';

export interface SubscriberInput {
  email: string;
  name: string | null;
  outlet: string | null;
}

export interface UpsertCounts {
  /** New memberships of the list. */
  added: number;
  /** Addresses already on the list (active or unsubscribed), their details refreshed. */
  updated: number;
  /** Suppressed addresses: kept off the list (invariant "consent sticks"). */
  suppressed: number;
}

/**
 * Adds a batch of addresses to a list in one round trip. Existing subscribers are updated, never
 * duplicated; a membership that was unsubscribed stays unsubscribed, and a suppressed address is
 * never (re-)added: consent sticks (invariant "consent sticks"). Callers pass at most one row per address.
 */
export async function upsertMembers(db: Db, listId: number, rows: SubscriberInput[]): Promise<UpsertCounts> {
  if (rows.length === 0) return { added: 0, updated: 0, suppressed: 0 };
  const result = await sql<{ added: number; updated: number; suppressed: number }>`
    WITH input AS (
      SELECT * FROM unnest(${rows.map((r) => r.email)}::text[], ${rows.map((r) => r.name)}::text[], ${rows.map((r) => r.outlet)}::text[])
        AS t(email, name, outlet)
    ),
    subs AS (
      INSERT INTO subscribers AS s (email, name, outlet)
      SELECT email, name, outlet FROM input
      ON CONFLICT (email_key) DO UPDATE
        SET name = coalesce(EXCLUDED.name, s.name), outlet = coalesce(EXCLUDED.outlet, s.outlet), updated_at = now()
      RETURNING s.id, s.email_key
    ),
    eligible AS (
      -- A suppressed address, or one erased while suppressed (its tombstone's hash), is not added.
      SELECT subs.id FROM subs WHERE NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = subs.email_key)
        AND NOT EXISTS (SELECT 1 FROM tombstones t WHERE t.email_hash = encode(sha256(convert_to(subs.email_key, 'UTF8')), 'hex') AND t.suppressed)
    ),
    added AS (
      INSERT INTO list_members (list_id, subscriber_id)
      SELECT ${listId}, id FROM eligible
      ON CONFLICT (list_id, subscriber_id) DO NOTHING
      RETURNING subscriber_id
    )
    SELECT (SELECT count(*) FROM added)::int AS added,
           (SELECT count(*) FROM eligible)::int - (SELECT count(*) FROM added)::int AS updated,
           (SELECT count(*) FROM subs)::int - (SELECT count(*) FROM eligible)::int AS suppressed`.execute(db);
  return result.rows[0]!;
}

export async function findMember(db: Db, listId: number, email: string) {
  const row = await sql<{
    id: number;
    email: string;
    name: string | null;
    outlet: string | null;
    status: string | null;
    suppressed: boolean;
  }>`
    SELECT s.id, s.email, s.name, s.outlet, m.status,
           EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = s.email_key) AS suppressed
    FROM subscribers s LEFT JOIN list_members m ON m.subscriber_id = s.id AND m.list_id = ${listId}
    WHERE s.email_key = lower(${email})`.execute(db);
  const found = row.rows[0];
  if (!found) return null;
  return {
    id: found.id,
    email: found.email,
    name: found.name,
    outlet: found.outlet,
    listId,
    status: found.suppressed ? 'suppressed' : (found.status ?? 'not-member'),
  };
}

/**
 * Records that an address must not be mailed again (a hard bounce, a complaint, staff's word), with
 * where that came from and its evidence. The first suppression stands: a later one changes nothing.
 */
export async function suppress(
  db: Db,
  email: string,
  reason: string,
  source: SuppressionSource,
  details: Record<string, unknown> = {},
): Promise<boolean> {
  const { rows } = await sql<{ email_key: string }>`
    INSERT INTO suppressions (email_key, reason, source, details) VALUES (lower(${email}), ${reason}, ${source}, ${JSON.stringify(details)})
    ON CONFLICT (email_key) DO NOTHING RETURNING email_key`.execute(db);
  return rows.length > 0;
}

/**
 * Lifts a suppression, so the address may be added to lists again. Memberships that ended (an
 * unsubscribe, a complaint) stay ended: nobody is re-subscribed by it (invariant "consent sticks").
 */
export async function removeSuppression(db: Db, email: string): Promise<boolean> {
  const result = await db.deleteFrom('suppressions').where('email_key', '=', email.toLowerCase()).executeTakeFirst();
  return result.numDeletedRows > 0n;
}

export async function suppressionList(db: Db, limit: number) {
  return db.selectFrom('suppressions').selectAll().orderBy('created_at', 'desc').limit(limit).execute();
}

/** Ends every active membership of an address (a complaint says: no more mail of ours); how many ended. */
export async function unsubscribeEverywhere(db: Db, email: string): Promise<number> {
  const result = await sql`
    UPDATE list_members m SET status = 'unsubscribed', unsubscribed_at = now()
    FROM subscribers s
    WHERE s.email_key = lower(${email}) AND m.subscriber_id = s.id AND m.status = 'active'`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

export interface Membership {
  email: string;
  listName: string;
  status: 'active' | 'unsubscribed';
  suppressed: boolean;
  /** When it was unsubscribed, in whole milliseconds (a resubscribe confirmation names this one unsubscribe). */
  unsubscribedMs: number | null;
}

/** Milliseconds, so that the value survives a round trip through a link exactly. */
const UNSUBSCRIBED_MS = sql<number | null>`floor(extract(epoch FROM m.unsubscribed_at) * 1000)::bigint`;

/** A subscriber's membership of one list, as an unsubscribe page shows it; null when there is none. */
export async function findMembership(db: Db, subscriberId: number, listId: number): Promise<Membership | null> {
  const { rows } = await sql<{
    email: string;
    list_name: string;
    status: 'active' | 'unsubscribed';
    suppressed: boolean;
    unsubscribed_ms: number | null;
  }>`
    SELECT s.email, l.name AS list_name, m.status, ${UNSUBSCRIBED_MS} AS unsubscribed_ms,
           EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = s.email_key) AS suppressed
    FROM list_members m JOIN subscribers s ON s.id = m.subscriber_id JOIN lists l ON l.id = m.list_id
    WHERE m.subscriber_id = ${subscriberId} AND m.list_id = ${listId}`.execute(db);
  const row = rows[0];
  return row
    ? {
        email: row.email,
        listName: row.list_name,
        status: row.status,
        suppressed: row.suppressed,
        unsubscribedMs: row.unsubscribed_ms,
      }
    : null;
}

/**
 * Ends a membership at once. Deliveries already queued for it are skipped when claimed, because
 * the claim re-reads the membership (invariant "the audience is frozen at the lift"). Idempotent: a second click
 * changes nothing
 * (false: it was not active).
 */
export async function unsubscribe(db: Db, subscriberId: number, listId: number): Promise<boolean> {
  const result = await sql`UPDATE list_members SET status = 'unsubscribed', unsubscribed_at = now()
            WHERE subscriber_id = ${subscriberId} AND list_id = ${listId} AND status = 'active'`.execute(db);
  return Number(result.numAffectedRows ?? 0) > 0;
}

/**
 * The subscriber's own choice to come back, confirmed from their mailbox: only the unsubscribe
 * the confirmation was sent for (its instant), so a link from before a later unsubscribe does
 * nothing. A suppressed address stays off every list (invariant "consent sticks").
 */
export async function resubscribe(
  db: Db,
  subscriberId: number,
  listId: number,
  unsubscribedMs: number,
): Promise<boolean> {
  const { rows } = await sql<{ subscriber_id: number }>`
    UPDATE list_members m SET status = 'active', unsubscribed_at = NULL, subscribed_at = now()
    FROM subscribers s
    WHERE m.subscriber_id = ${subscriberId} AND m.list_id = ${listId} AND s.id = m.subscriber_id
      AND m.status = 'unsubscribed' AND ${UNSUBSCRIBED_MS} = ${unsubscribedMs}
      AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = s.email_key)
    RETURNING m.subscriber_id`.execute(db);
  return rows.length > 0;
}

/** Takes an active member off a list; false when there was no such active membership. */
export async function removeMember(db: Db, listId: number, subscriberId: number): Promise<boolean> {
  const result = await db
    .deleteFrom('list_members')
    .where('list_id', '=', listId)
    .where('subscriber_id', '=', subscriberId)
    .where('status', '=', 'active')
    .executeTakeFirst();
  return result.numDeletedRows > 0n;
}

/**
 * The first active member of the given lists (in their order of precedence), as previews and
 * test sends address their copy; a stand-in when the lists are empty.
 */
export async function sampleRecipient(db: Db, listIds: number[], releaseId = 0): Promise<Recipient> {
  const { rows } = await sql<{
    subscriber_id: number;
    list_id: number;
    email: string;
    name: string | null;
    list_name: string;
    list_slug: string;
  }>`
    SELECT m.subscriber_id, m.list_id, s.email, s.name, l.name AS list_name, l.slug AS list_slug
    FROM list_members m JOIN subscribers s ON s.id = m.subscriber_id JOIN lists l ON l.id = m.list_id
    WHERE m.list_id = ANY(${listIds}::bigint[]) AND m.status = 'active'
    ORDER BY m.subscriber_id, array_position(${listIds}::bigint[], m.list_id)
    LIMIT 1`.execute(db);
  const row = rows[0];
  return row
    ? {
        deliveryId: 0,
        releaseId,
        subscriberId: row.subscriber_id,
        listId: row.list_id,
        email: row.email,
        name: row.name,
        listName: row.list_name,
        listSlug: row.list_slug,
      }
    : {
        deliveryId: 0,
        releaseId,
        subscriberId: 0,
        listId: 0,
        email: 'journalist@example.org',
        name: 'Sample Journalist',
        listName: 'Sample list',
        listSlug: 'sample',
      };
}

/**
 * The first member of the release's audience (advance lists first), so a preview is exactly what that journalist gets.
 */
export async function releaseSampleRecipient(db: Db, releaseId: number): Promise<Recipient> {
  const listIds = [...(await releaseListIds(db, releaseId, true)), ...(await releaseListIds(db, releaseId))];
  return sampleRecipient(db, listIds, releaseId);
}

export async function subscriberExists(db: Db, id: number): Promise<boolean> {
  return (await db.selectFrom('subscribers').select('id').where('id', '=', id).executeTakeFirst()) !== undefined;
}
