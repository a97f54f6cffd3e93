import { sql } from 'kysely';
import type { Db } from './index.js';
import type { MailEventKind, SuppressionSource } from './schema.js';
import type { DeliveryState } from '../states.js';

/** The delivery a report is about, as the effects of a bounce or a complaint need it. */
export interface ReportedDelivery {
  deliveryId: number;
  releaseId: number;
  listId: number;
  subscriberId: number;
  email: string;
  state: DeliveryState;
}

// The inner join leaves out rows of erased people (subscriber_id null): nothing is left to report on.
const reportedDelivery = (db: Db) =>
  db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .select([
      'd.id as deliveryId',
      'd.release_id as releaseId',
      'd.list_id as listId',
      's.id as subscriberId',
      's.email',
      'd.state',
    ]);

export async function findReportedDelivery(db: Db, deliveryId: number): Promise<ReportedDelivery | null> {
  return (await reportedDelivery(db).where('d.id', '=', deliveryId).executeTakeFirst()) ?? null;
}

/** By the Message-ID a provider echoes back (deliveries.message_id is set when the relay accepts). */
export async function findDeliveryByMessageId(db: Db, messageId: string): Promise<ReportedDelivery | null> {
  return (await reportedDelivery(db).where('d.message_id', '=', messageId).executeTakeFirst()) ?? null;
}

export interface MailEventRow {
  kind: MailEventKind;
  email: string;
  delivery: ReportedDelivery | null;
  source: SuppressionSource;
  status: string | null;
  diagnostic: string | null;
  dedupeKey: string;
}

/**
 * Records a bounce or complaint once: false when its dedupe key was seen before, so the caller
 * applies a report's effects only the first time it arrives (in the same transaction).
 */
export async function recordMailEvent(db: Db, event: MailEventRow): Promise<boolean> {
  const inserted = await db
    .insertInto('mail_events')
    .values({
      kind: event.kind,
      email_key: event.email.toLowerCase(),
      delivery_id: event.delivery?.deliveryId ?? null,
      release_id: event.delivery?.releaseId ?? null,
      list_id: event.delivery?.listId ?? null,
      source: event.source,
      status: event.status,
      diagnostic: event.diagnostic,
      dedupe_key: event.dedupeKey,
    })
    .onConflict((oc) => oc.column('dedupe_key').doNothing())
    .returning('id')
    .executeTakeFirst();
  return inserted !== undefined;
}

/** sent → bounced: the relay took the message, and a later report says it never arrived. */
export async function markBounced(db: Db, deliveryId: number, reason: string): Promise<boolean> {
  const result = await db
    .updateTable('deliveries')
    .set({ state: 'bounced', last_error: reason, updated_at: sql`now()` })
    .where('id', '=', deliveryId)
    .where('state', '=', 'sent')
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

/**
 * An address's soft bounces within the last `days` days. Each message counts once, though its
 * delay warning and its final failure are two events.
 */
export async function softBouncesWithin(db: Db, email: string, days: number): Promise<number> {
  const { rows } = await sql<{ n: number }>`
    SELECT count(DISTINCT coalesce(delivery_id::text, dedupe_key))::int AS n FROM mail_events
    WHERE email_key = lower(${email}) AND kind = 'soft_bounce' AND at >= now() - make_interval(days => ${days})`.execute(
    db,
  );
  return rows[0]!.n;
}

export interface ReleaseFeedback {
  softBounced: number;
  complained: number;
}

/** What came back for a release besides its bounced deliveries (those are a delivery state). */
export async function releaseFeedback(db: Db, releaseId: number): Promise<ReleaseFeedback> {
  const { rows } = await sql<ReleaseFeedback>`
    SELECT count(DISTINCT delivery_id) FILTER (WHERE kind = 'soft_bounce')::int AS "softBounced",
           count(*) FILTER (WHERE kind = 'complaint')::int AS complained
    FROM mail_events WHERE release_id = ${releaseId}`.execute(db);
  return rows[0]!;
}

/** releaseFeedback for a page of releases in one query (mail_events_release serves it). */
export async function releaseFeedbackOf(db: Db, releaseIds: number[]): Promise<Map<number, ReleaseFeedback>> {
  const feedback = new Map(releaseIds.map((id) => [id, { softBounced: 0, complained: 0 }]));
  if (releaseIds.length === 0) return feedback;
  const { rows } = await sql<ReleaseFeedback & { release_id: number }>`
    SELECT release_id,
           count(DISTINCT delivery_id) FILTER (WHERE kind = 'soft_bounce')::int AS "softBounced",
           count(*) FILTER (WHERE kind = 'complaint')::int AS complained
    FROM mail_events WHERE release_id = ANY(${releaseIds}::bigint[]) GROUP BY release_id`.execute(db);
  for (const { release_id, ...row } of rows) feedback.set(release_id, row);
  return feedback;
}

export interface ListHealth {
  listId: number;
  /** Deliveries the relay took or refused in the window. */
  attempted: number;
  bounced: number;
  complained: number;
  bounceRate: number;
  complaintRate: number;
}

/**
 * Each list's bounce and complaint rates over the deliveries of the last `days` days. A bounce is a
 * delivery that ended bounced (a later report) or failed (refused while sending); a complaint is
 * counted once per delivery. Deliveries are chosen by when they were created (at the lift), which
 * the (list_id, created_at) index serves.
 */
export async function listHealth(db: Db, days = 30): Promise<ListHealth[]> {
  const { rows } = await sql<{ list_id: number; attempted: number; bounced: number; complained: number }>`
    SELECT l.id AS list_id,
           coalesce(d.attempted, 0)::int AS attempted, coalesce(d.bounced, 0)::int AS bounced, coalesce(e.complained, 0)::int AS complained
    FROM lists l
    LEFT JOIN LATERAL (
      SELECT count(*) FILTER (WHERE state IN ('sent', 'bounced', 'failed')) AS attempted,
             count(*) FILTER (WHERE state IN ('bounced', 'failed')) AS bounced
      FROM deliveries WHERE list_id = l.id AND created_at >= now() - make_interval(days => ${days})
    ) d ON true
    LEFT JOIN LATERAL (
      SELECT count(DISTINCT coalesce(e.delivery_id::text, e.email_key)) AS complained
      FROM mail_events e JOIN deliveries dd ON dd.id = e.delivery_id
      WHERE e.list_id = l.id AND e.kind = 'complaint' AND dd.created_at >= now() - make_interval(days => ${days})
    ) e ON true
    ORDER BY l.id`.execute(db);
  return rows.map((r) => ({
    listId: r.list_id,
    attempted: r.attempted,
    bounced: r.bounced,
    complained: r.complained,
    bounceRate: r.attempted > 0 ? r.bounced / r.attempted : 0,
    complaintRate: r.attempted > 0 ? r.complained / r.attempted : 0,
  }));
}
