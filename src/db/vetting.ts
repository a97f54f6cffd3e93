import { sql } from 'kysely';
import type { Db } from './index.js';
import type { AccessRequestStatus } from './schema.js';
import { joinLists, recordConsent, type ConsentShown } from './journalists.js';

/**
 * Embargo access: journalists' applications for advance copies and staff's decisions on them, and
 * the bars that keep embargo breakers (a person, or a whole outlet's domain) off advance copies.
 */

export interface Application {
  outlet: string;
  role: string;
  workEmail: string;
  links: string[];
}

/**
 * Records acceptance of the embargo terms (the exact text and version) and, with an application,
 * the request staff will decide on. Without one (a person already approved accepting a new version
 * of the terms) only the acceptance is recorded. One transaction: no request without its consent.
 */
export async function createAccessRequest(
  db: Db,
  subscriberId: number,
  application: Application | null,
  terms: ConsentShown,
): Promise<number | null> {
  return db.transaction().execute(async (tx) => {
    await recordConsent(tx, subscriberId, 'embargo-terms', terms);
    await tx
      .updateTable('subscribers')
      .set({ terms_version: terms.version, updated_at: new Date() })
      .where('id', '=', subscriberId)
      .execute();
    if (!application) return null;
    const row = await tx
      .insertInto('access_requests')
      .values({
        subscriber_id: subscriberId,
        outlet: application.outlet,
        role: application.role,
        work_email: application.workEmail,
        links: application.links,
        terms_version: terms.version,
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    return row.id;
  });
}

export interface AccessRequestView {
  id: number;
  subscriberId: number;
  name: string | null;
  email: string;
  outlet: string;
  role: string;
  workEmail: string;
  links: string[];
  termsVersion: string;
  status: AccessRequestStatus;
  note: string | null;
  listIds: number[];
  decidedBy: string | null;
  decidedAt: Date | null;
  createdAt: Date;
}

/** Requests of one status, oldest first (the queue staff work through), at most `limit`. */
export async function accessRequests(db: Db, status: AccessRequestStatus, limit = 200): Promise<AccessRequestView[]> {
  const rows = await db
    .selectFrom('access_requests as r')
    .innerJoin('subscribers as s', 's.id', 'r.subscriber_id')
    .select([
      'r.id',
      'r.subscriber_id',
      's.name',
      's.email',
      'r.outlet',
      'r.role',
      'r.work_email',
      'r.links',
      'r.terms_version',
      'r.status',
      'r.note',
      sql<number[]>`r.list_ids::int[]`.as('list_ids'),
      'r.decided_by',
      'r.decided_at',
      'r.created_at',
    ])
    .where('r.status', '=', status)
    .orderBy('r.id', status === 'pending' ? 'asc' : 'desc')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    id: r.id,
    subscriberId: r.subscriber_id,
    name: r.name,
    email: r.email,
    outlet: r.outlet,
    role: r.role,
    workEmail: r.work_email,
    links: r.links,
    termsVersion: r.terms_version,
    status: r.status,
    note: r.note,
    listIds: r.list_ids,
    decidedBy: r.decided_by,
    decidedAt: r.decided_at,
    createdAt: r.created_at,
  }));
}

export interface Decision {
  approve: boolean;
  note: string | null;
  listIds: number[];
  actor: string;
}

/**
 * Decides a pending request once (the status condition: two staff deciding at once, one wins). An
 * approval adds the person to the chosen advance lists, in the same transaction.
 */
export async function decideAccessRequest(
  db: Db,
  requestId: number,
  decision: Decision,
): Promise<{ subscriberId: number; email: string } | null> {
  return db.transaction().execute(async (tx) => {
    const { rows } = await sql<{ subscriber_id: number }>`
      UPDATE access_requests SET status = ${decision.approve ? 'approved' : 'refused'}, note = ${decision.note},
             list_ids = ${decision.listIds}::bigint[], decided_by = ${decision.actor}, decided_at = now()
      WHERE id = ${requestId} AND status = 'pending' RETURNING subscriber_id`.execute(tx);
    const row = rows[0];
    if (!row) return null;
    if (decision.approve) await joinLists(tx as unknown as Db, row.subscriber_id, decision.listIds);
    const { email } = await tx
      .selectFrom('subscribers')
      .select('email')
      .where('id', '=', row.subscriber_id)
      .executeTakeFirstOrThrow();
    return { subscriberId: row.subscriber_id, email };
  });
}

export interface BarInput {
  subscriberId: number | null;
  domain: string | null;
  reason: string;
  endsAt: Date | null;
  actor: string;
}

export async function createBar(db: Db, bar: BarInput): Promise<number> {
  const row = await db
    .insertInto('bars')
    .values({
      subscriber_id: bar.subscriberId,
      domain: bar.domain?.toLowerCase() ?? null,
      reason: bar.reason,
      ends_at: bar.endsAt,
      created_by: bar.actor,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return row.id;
}

/** Bars in force now (not lifted, not past their end). */
export async function activeBars(db: Db) {
  return db
    .selectFrom('bars')
    .selectAll()
    .where('lifted_at', 'is', null)
    .where((eb) => eb.or([eb('ends_at', 'is', null), eb('ends_at', '>', sql<Date>`now()`)]))
    .orderBy('id')
    .execute();
}

export async function liftBar(db: Db, id: number): Promise<boolean> {
  const result = await db
    .updateTable('bars')
    .set({ lifted_at: sql`now()` })
    .where('id', '=', id)
    .where('lifted_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * Why a subscriber must not receive an advance copy now, as SQL over a subscribers row `s`: a bar
 * of the person or of their address's domain, in force. The audience freeze and the claim both
 * use it, so a bar set after an advance row was staged still stops the copy.
 */
export const BARRED = sql<boolean>`EXISTS (
  SELECT 1 FROM bars b
  WHERE b.lifted_at IS NULL AND (b.ends_at IS NULL OR b.ends_at > now())
    AND (b.subscriber_id = s.id OR b.domain = split_part(s.email_key, '@', 2)))`;
