import { sql } from 'kysely';
import type { Db } from './index.js';
import type { ConsentKind } from './schema.js';

/**
 * Journalists managing themselves: sign-up with double opt-in and the consent it records, and the
 * preferences they change from their signed link. Every membership made here is the person's own
 * confirmed choice (from their mailbox), which is why, unlike a staff add or an import, it may
 * bring back a membership they once ended; a suppressed or erased-and-suppressed address is still
 * never added (invariant 7).
 */

/** Whether an address may not be mailed: suppressed, or erased while suppressed (its tombstone's hash). */
const BLOCKED = (emailKey: ReturnType<typeof sql>) => sql<boolean>`(
  EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = ${emailKey})
  OR EXISTS (SELECT 1 FROM tombstones t WHERE t.email_hash = encode(sha256(convert_to(${emailKey}, 'UTF8')), 'hex') AND t.suppressed))`;

export interface PublicList {
  id: number;
  name: string;
  description: string | null;
}

export async function publicLists(db: Db): Promise<PublicList[]> {
  return db
    .selectFrom('lists')
    .select(['id', 'name', 'description'])
    .where('public', '=', true)
    .orderBy('name')
    .execute();
}

export interface ConsentShown {
  version: string;
  text: string;
}

export interface SignupInput {
  email: string;
  name: string | null;
  outlet: string | null;
  listIds: number[];
  consent: ConsentShown;
}

/**
 * Records a sign-up and the consent shown with it, waiting for confirmation: the subscriber row
 * (made, or found by address, its name and outlet filled only where empty: the form is not the
 * person's proof of identity), a consent row and a signup row. No membership yet, so nothing is sent.
 * `blocked`: the address must not be mailed, so no confirmation goes out either.
 */
export async function startSignup(
  db: Db,
  input: SignupInput,
): Promise<{ signupId: number; subscriberId: number; blocked: boolean }> {
  return db.transaction().execute(async (tx) => {
    const { rows } = await sql<{ id: number; blocked: boolean }>`
      INSERT INTO subscribers AS s (email, name, outlet) VALUES (${input.email}, ${input.name}, ${input.outlet})
      ON CONFLICT (email_key) DO UPDATE SET name = coalesce(s.name, EXCLUDED.name), outlet = coalesce(s.outlet, EXCLUDED.outlet), updated_at = now()
      RETURNING s.id, ${BLOCKED(sql`s.email_key`)} AS blocked`.execute(tx);
    const subscriber = rows[0]!;
    const consent = await tx
      .insertInto('consents')
      .values({
        subscriber_id: subscriber.id,
        kind: 'signup',
        email: input.email,
        version: input.consent.version,
        text: input.consent.text,
        list_ids: input.listIds,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const signup = await tx
      .insertInto('signups')
      .values({ subscriber_id: subscriber.id, list_ids: input.listIds, consent_id: consent.id })
      .returning('id')
      .executeTakeFirstOrThrow();
    return { signupId: signup.id, subscriberId: subscriber.id, blocked: subscriber.blocked };
  });
}

export type ConfirmOutcome =
  { kind: 'confirmed' | 'already'; subscriberId: number; listIds: number[] } | { kind: 'blocked' | 'missing' };

/**
 * Confirms a sign-up from its emailed link: the memberships start (or start again), the consent is
 * marked confirmed. Only once: a second open of the link changes nothing. The row lock makes two
 * clicks at once one confirmation.
 */
export async function confirmSignup(db: Db, signupId: number): Promise<ConfirmOutcome> {
  return db.transaction().execute(async (tx) => {
    const { rows } = await sql<{
      subscriber_id: number;
      list_ids: string[];
      consent_id: number;
      confirmed: boolean;
      blocked: boolean;
    }>`
      SELECT g.subscriber_id, g.list_ids, g.consent_id, g.confirmed_at IS NOT NULL AS confirmed, ${BLOCKED(sql`s.email_key`)} AS blocked
      FROM signups g JOIN subscribers s ON s.id = g.subscriber_id
      WHERE g.id = ${signupId} FOR UPDATE OF g`.execute(tx);
    const row = rows[0];
    if (!row) return { kind: 'missing' };
    const listIds = row.list_ids.map(Number);
    if (row.confirmed) return { kind: 'already', subscriberId: row.subscriber_id, listIds };
    if (row.blocked) return { kind: 'blocked' };
    await joinLists(tx as unknown as Db, row.subscriber_id, listIds);
    await sql`UPDATE signups SET confirmed_at = now() WHERE id = ${signupId}`.execute(tx);
    await sql`UPDATE consents SET confirmed_at = now() WHERE id = ${row.consent_id}`.execute(tx);
    return { kind: 'confirmed', subscriberId: row.subscriber_id, listIds };
  });
}

/** Active memberships of these lists, starting or restarting them (the person's own confirmed choice). */
export async function joinLists(db: Db, subscriberId: number, listIds: number[]): Promise<void> {
  if (listIds.length === 0) return;
  await sql`
    INSERT INTO list_members (list_id, subscriber_id)
    SELECT l.id, ${subscriberId} FROM lists l WHERE l.id = ANY(${listIds}::bigint[])
    ON CONFLICT (list_id, subscriber_id) DO UPDATE SET status = 'active', subscribed_at = now(), unsubscribed_at = NULL
      WHERE list_members.status = 'unsubscribed'`.execute(db);
}

export interface Preferences {
  id: number;
  email: string;
  name: string | null;
  outlet: string | null;
  timeZone: string | null;
  plainText: boolean;
  pausedUntil: Date | null;
  pendingEmail: string | null;
  termsVersion: string | null;
  /** Public lists and every list the person is or was on, with whether they receive it now. */
  lists: { id: number; name: string; description: string | null; active: boolean; public: boolean }[];
  accessRequest: { id: number; status: string; createdAt: Date; note: string | null } | null;
}

export async function findPreferences(db: Db, subscriberId: number): Promise<Preferences | null> {
  const subscriber = await db.selectFrom('subscribers').selectAll().where('id', '=', subscriberId).executeTakeFirst();
  if (!subscriber) return null;
  // Lists the person may choose: the public ones, and those they are (or were) on.
  const { rows: lists } = await sql<{
    id: number;
    name: string;
    description: string | null;
    active: boolean;
    public: boolean;
  }>`
    SELECT l.id, l.name, l.description, coalesce(m.status = 'active', false) AS active, l.public
    FROM lists l LEFT JOIN list_members m ON m.list_id = l.id AND m.subscriber_id = ${subscriberId}
    WHERE l.public OR m.subscriber_id IS NOT NULL
    ORDER BY l.name`.execute(db);
  const request = await db
    .selectFrom('access_requests')
    .select(['id', 'status', 'created_at', 'note'])
    .where('subscriber_id', '=', subscriberId)
    .orderBy('id', 'desc')
    .limit(1)
    .executeTakeFirst();
  return {
    id: subscriber.id,
    email: subscriber.email,
    name: subscriber.name,
    outlet: subscriber.outlet,
    timeZone: subscriber.time_zone,
    plainText: subscriber.plain_text,
    pausedUntil: subscriber.paused_until,
    pendingEmail: subscriber.pending_email,
    termsVersion: subscriber.terms_version,
    lists,
    accessRequest: request
      ? { id: request.id, status: request.status, createdAt: request.created_at, note: request.note }
      : null,
  };
}

export interface PreferenceChange {
  /** The lists (of those offered) the person wants to receive; the others offered are left. */
  activeListIds: number[];
  offeredListIds: number[];
  timeZone: string | null;
  plainText: boolean;
  pausedUntil: Date | null;
  /** The consent text shown for joining a list from the page. */
  consent: ConsentShown;
}

/** Saves the preference page in one transaction; joining a list there records the consent shown. */
export async function savePreferences(
  db: Db,
  subscriberId: number,
  change: PreferenceChange,
): Promise<{ joined: number[]; left: number[] }> {
  return db.transaction().execute(async (tx) => {
    await tx
      .updateTable('subscribers')
      .set({
        time_zone: change.timeZone,
        plain_text: change.plainText,
        paused_until: change.pausedUntil,
        updated_at: new Date(),
      })
      .where('id', '=', subscriberId)
      .execute();
    const leave = change.offeredListIds.filter((id) => !change.activeListIds.includes(id));
    const { rows: left } = await sql<{ list_id: number }>`
      UPDATE list_members SET status = 'unsubscribed', unsubscribed_at = now()
      WHERE subscriber_id = ${subscriberId} AND list_id = ANY(${leave}::bigint[]) AND status = 'active'
      RETURNING list_id`.execute(tx);
    // Only public lists can be joined here (staff-only lists, such as advance lists, are left, never joined).
    const { rows: joinable } = await sql<{ id: number; blocked: boolean }>`
      SELECT l.id, ${BLOCKED(sql`s.email_key`)} AS blocked FROM lists l, subscribers s
      WHERE s.id = ${subscriberId} AND l.id = ANY(${change.activeListIds}::bigint[]) AND l.public
        AND NOT EXISTS (SELECT 1 FROM list_members m WHERE m.list_id = l.id AND m.subscriber_id = s.id AND m.status = 'active')`.execute(
      tx,
    );
    const joined = joinable.filter((r) => !r.blocked).map((r) => r.id);
    if (joined.length > 0) {
      await joinLists(tx as unknown as Db, subscriberId, joined);
      await recordConsent(tx, subscriberId, 'signup', change.consent, joined);
    }
    return { joined, left: left.map((r) => Number(r.list_id)) };
  });
}

/** Keeps a new address waiting for its confirmation; null when another subscriber already has it. */
export async function setPendingEmail(db: Db, subscriberId: number, email: string): Promise<boolean> {
  const { rows } = await sql<{ id: number }>`
    UPDATE subscribers SET pending_email = ${email}, updated_at = now()
    WHERE id = ${subscriberId} AND NOT EXISTS (SELECT 1 FROM subscribers o WHERE o.email_key = lower(${email}) AND o.id <> ${subscriberId})
    RETURNING id`.execute(db);
  return rows.length > 0;
}

/**
 * Makes the confirmed new address the subscriber's own, if it is still the one waiting and no one
 * else took it meanwhile (the unique address key would refuse it: that answers 'taken').
 */
export async function confirmEmailChange(
  db: Db,
  subscriberId: number,
  email: string,
): Promise<'changed' | 'stale' | 'taken'> {
  try {
    const { rows } = await sql<{ id: number }>`
      UPDATE subscribers SET email = pending_email, pending_email = NULL, updated_at = now()
      WHERE id = ${subscriberId} AND pending_email = ${email} RETURNING id`.execute(db);
    return rows.length > 0 ? 'changed' : 'stale';
  } catch (error) {
    if ((error as { code?: string }).code === '23505') return 'taken';
    throw error;
  }
}

/**
 * Takes back a sign-up whose confirmation could not be sent (the relay cannot carry the address),
 * so a refused form leaves nothing written: the signup, its consent, and the subscriber row when
 * the sign-up made it (no membership, no other sign-up).
 */
export async function abandonSignup(db: Db, signupId: number): Promise<void> {
  await db.transaction().execute(async (tx) => {
    const signup = await tx
      .deleteFrom('signups')
      .where('id', '=', signupId)
      .returning(['subscriber_id', 'consent_id'])
      .executeTakeFirst();
    if (!signup) return;
    await tx.deleteFrom('consents').where('id', '=', signup.consent_id).execute();
    await sql`
      DELETE FROM subscribers s WHERE s.id = ${signup.subscriber_id}
        AND NOT EXISTS (SELECT 1 FROM list_members m WHERE m.subscriber_id = s.id)
        AND NOT EXISTS (SELECT 1 FROM signups g WHERE g.subscriber_id = s.id)
        AND NOT EXISTS (SELECT 1 FROM consents c WHERE c.subscriber_id = s.id)
        AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.subscriber_id = s.id)`.execute(tx);
  });
}

/**
 * A consent given now by a known subscriber, at their current address (a list joined from the
 * preference page, the embargo terms accepted): the exact text and version shown, confirmed at once.
 */
export async function recordConsent(
  db: Db,
  subscriberId: number,
  kind: ConsentKind,
  shown: ConsentShown,
  listIds: number[] = [],
): Promise<void> {
  await sql`
    INSERT INTO consents (subscriber_id, kind, email, version, text, list_ids, confirmed_at)
    SELECT s.id, ${kind}, s.email, ${shown.version}, ${shown.text}, ${listIds}::bigint[], now()
    FROM subscribers s WHERE s.id = ${subscriberId}`.execute(db);
}
