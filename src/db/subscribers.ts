import { sql } from 'kysely';
import type { Db } from './index';

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
  /** Suppressed addresses: kept off the list (invariant 7). */
  suppressed: number;
}

/**
 * Adds a batch of addresses to a list in one round trip. Existing subscribers are updated, never
 * duplicated; a membership that was unsubscribed stays unsubscribed, and a suppressed address is
 * never (re-)added: consent sticks (invariant 7). Callers pass at most one row per address.
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
      SELECT subs.id FROM subs WHERE NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = subs.email_key)
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
  const row = await sql<{ id: number; email: string; name: string | null; outlet: string | null; status: string | null; suppressed: boolean }>`
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

/** Records that an address must not be mailed again (a hard bounce or a complaint). */
export async function suppress(db: Db, email: string, reason: string): Promise<void> {
  await sql`INSERT INTO suppressions (email_key, reason) VALUES (lower(${email}), ${reason})
            ON CONFLICT (email_key) DO NOTHING`.execute(db);
}
