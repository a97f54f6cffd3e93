import { sql } from 'kysely';
import type { Db } from './index';
import type { DeliveryState, Phase } from './schema';
import type { Recipient } from '../mail/message';

export interface FrozenChunk {
  /** Subscriber id to continue after; null when the audience is exhausted. */
  nextCursor: number | null;
  /** Newly created deliveries that are waiting to be sent. */
  queuedIds: number[];
}

/**
 * Freezes the next chunk of a release's audience into delivery rows.
 * DISTINCT ON picks, for someone on several of the release's lists, the first of those lists
 * (invariant 7). Walking subscriber ids in order (keyset pagination) keeps every chunk an index
 * range scan and never holds the audience in memory. ON CONFLICT makes a re-run of the lift add
 * nothing twice (invariant 2). Suppressed addresses get a row in state skipped, so the report says
 * why they were not mailed.
 * The advance phase freezes only the advance lists. The lift phase freezes every list of the
 * release, so whoever already has an advance copy is left out by the conflict (invariant 7), and an
 * advance-list member without one (a late joiner, or a lift before the advance time) gets the lift copy.
 */
export async function freezeAudienceChunk(
  db: Db,
  releaseId: number,
  notBefore: Date,
  afterSubscriberId: number,
  chunkSize: number,
  phase: Phase = 'lift',
): Promise<FrozenChunk> {
  const { rows } = await sql<{ last_subscriber: number | null; queued_ids: number[] }>`
    WITH audience AS (
      SELECT DISTINCT ON (m.subscriber_id) m.subscriber_id, m.list_id
      FROM release_lists rl
      JOIN list_members m ON m.list_id = rl.list_id AND m.status = 'active'
      WHERE rl.release_id = ${releaseId} AND m.subscriber_id > ${afterSubscriberId}
        AND (${phase} = 'lift' OR rl.advance)
      ORDER BY m.subscriber_id, rl.advance, rl.position
      LIMIT ${chunkSize}
    ),
    inserted AS (
      INSERT INTO deliveries (release_id, subscriber_id, list_id, phase, not_before, state, last_error)
      SELECT ${releaseId}, a.subscriber_id, a.list_id, ${phase}, ${notBefore},
             CASE WHEN x.email_key IS NULL THEN 'queued' ELSE 'skipped' END,
             CASE WHEN x.email_key IS NULL THEN NULL ELSE 'suppressed: ' || x.reason END
      FROM audience a
      JOIN subscribers s ON s.id = a.subscriber_id
      LEFT JOIN suppressions x ON x.email_key = s.email_key
      ON CONFLICT (release_id, subscriber_id) DO NOTHING
      RETURNING id, state
    )
    SELECT (SELECT max(subscriber_id) FROM audience) AS last_subscriber,
           coalesce((SELECT array_agg(id ORDER BY id) FROM inserted WHERE state = 'queued'), '{}') AS queued_ids`.execute(db);
  const row = rows[0]!;
  return { nextCursor: row.last_subscriber, queuedIds: row.queued_ids.map(Number) };
}

/** A claimed row is a recipient, with the phase whose compiled email it receives. */
export type ClaimedDelivery = Recipient & { phase: Phase };

/**
 * Claims the deliveries of a send job that are still due. One statement takes row locks and flips
 * state, so two workers never both win a row; a row whose lease expired (its worker died) can be
 * taken again. Recipients who unsubscribed or were suppressed since fan-out become skipped here,
 * the last moment before the message would leave (invariant 5). Rows whose send instant has not
 * come by PostgreSQL's clock are left alone (invariant 1). Advance copies leave while the release
 * is still scheduled; lift copies only once it is sending.
 */
export async function claimBatch(db: Db, ids: number[], leaseSeconds: number): Promise<ClaimedDelivery[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<{
    id: number; release_id: number; subscriber_id: number; list_id: number; state: DeliveryState; phase: Phase;
    email: string; name: string | null; list_name: string; list_slug: string;
  }>`
    WITH candidates AS (
      SELECT d.id, s.email, s.name, l.name AS list_name, l.slug AS list_slug,
             CASE WHEN x.email_key IS NOT NULL THEN 'suppressed: ' || x.reason
                  WHEN m.status IS DISTINCT FROM 'active' THEN 'unsubscribed before sending' END AS skip_reason
      FROM deliveries d
      JOIN releases r ON r.id = d.release_id
        AND (r.status = 'sending' OR (d.phase = 'advance' AND r.status = 'scheduled'))
      JOIN subscribers s ON s.id = d.subscriber_id
      JOIN lists l ON l.id = d.list_id
      LEFT JOIN list_members m ON m.list_id = d.list_id AND m.subscriber_id = d.subscriber_id
      LEFT JOIN suppressions x ON x.email_key = s.email_key
      WHERE d.id = ANY(${ids}::bigint[])
        AND d.not_before <= now()
        AND (d.state = 'queued' OR (d.state = 'sending' AND d.lease_until < now()))
      FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE deliveries d
    SET state = CASE WHEN c.skip_reason IS NULL THEN 'sending' ELSE 'skipped' END,
        attempts = d.attempts + CASE WHEN c.skip_reason IS NULL THEN 1 ELSE 0 END,
        last_error = coalesce(c.skip_reason, d.last_error),
        lease_until = CASE WHEN c.skip_reason IS NULL THEN now() + make_interval(secs => ${leaseSeconds}) END,
        updated_at = now()
    FROM candidates c
    WHERE d.id = c.id
    RETURNING d.id, d.release_id, d.subscriber_id, d.list_id, d.state, d.phase, c.email, c.name, c.list_name, c.list_slug`.execute(db);
  return rows
    .filter((r) => r.state === 'sending')
    .map((r) => ({
      deliveryId: r.id, releaseId: r.release_id, subscriberId: r.subscriber_id, listId: r.list_id,
      email: r.email, name: r.name, listName: r.list_name, listSlug: r.list_slug, phase: r.phase,
    }));
}

/** Keeps a live worker's claim: without renewal another worker takes the rows after the lease. */
export async function renewLease(db: Db, ids: number[], leaseSeconds: number): Promise<void> {
  if (ids.length === 0) return;
  await sql`UPDATE deliveries SET lease_until = now() + make_interval(secs => ${leaseSeconds})
            WHERE id = ANY(${ids}::bigint[]) AND state = 'sending'`.execute(db);
}

/** When the last live lease among these deliveries ends (null when none is held). */
export async function leaseHeldUntil(db: Db, ids: number[]): Promise<Date | null> {
  const { rows } = await sql<{ until: Date | null }>`
    SELECT max(lease_until) AS until FROM deliveries
    WHERE id = ANY(${ids}::bigint[]) AND state = 'sending' AND lease_until >= now()`.execute(db);
  return rows[0]?.until ?? null;
}

export interface SentRecord {
  id: number;
  messageId: string;
  sentAt: Date;
}

/** Marks accepted messages sent, many rows in one statement. */
export async function recordSent(db: Db, sent: SentRecord[]): Promise<void> {
  if (sent.length === 0) return;
  await sql`
    UPDATE deliveries d
    SET state = 'sent', sent_at = v.sent_at, message_id = v.message_id, lease_until = NULL, last_error = NULL, updated_at = now()
    FROM unnest(${sent.map((s) => s.id)}::bigint[], ${sent.map((s) => s.sentAt)}::timestamptz[], ${sent.map((s) => s.messageId)}::text[])
      AS v(id, sent_at, message_id)
    WHERE d.id = v.id AND d.state = 'sending'`.execute(db);
}

export interface FailureRecord {
  id: number;
  error: string;
}

/** Ends deliveries as failed (permanent reply, or the retry budget spent). */
export async function recordFailed(db: Db, failed: FailureRecord[]): Promise<void> {
  await moveSending(db, failed, 'failed');
}

/** Hands claimed deliveries back to the queue (a transient failure, or a worker letting go). */
export async function releaseClaims(db: Db, released: FailureRecord[]): Promise<void> {
  await moveSending(db, released, 'queued');
}

/** Ends claimed deliveries of a cancelled release that were never handed to SMTP. */
export async function recordCancelled(db: Db, ids: number[]): Promise<void> {
  await moveSending(db, ids.map((id) => ({ id, error: CANCELLED })), 'cancelled');
}

async function moveSending(db: Db, rows: FailureRecord[], to: 'failed' | 'queued' | 'cancelled'): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    UPDATE deliveries d
    SET state = ${to}, last_error = v.error, lease_until = NULL, updated_at = now()
    FROM unnest(${rows.map((r) => r.id)}::bigint[], ${rows.map((r) => r.error)}::text[]) AS v(id, error)
    WHERE d.id = v.id AND d.state = 'sending'`.execute(db);
}

/**
 * Notes when the first and the latest copies of a release were accepted; for advance copies, when
 * the first one was (the release shows that an advance copy is out).
 */
export async function noteSendTimes(db: Db, releaseId: number, phase: Phase, first: Date, last: Date): Promise<void> {
  if (phase === 'advance') {
    await sql`UPDATE releases SET advance_sent_at = least(coalesce(advance_sent_at, ${first}), ${first}) WHERE id = ${releaseId}`.execute(db);
    return;
  }
  await sql`
    UPDATE releases
    SET first_sent_at = least(coalesce(first_sent_at, ${first}), ${first}),
        last_sent_at = greatest(coalesce(last_sent_at, ${last}), ${last})
    WHERE id = ${releaseId}`.execute(db);
}

/**
 * Ends a release as sent once fan-out is complete and no delivery is waiting or in flight.
 * Conditional, so of several workers finishing at once exactly one reports completion.
 */
export async function completeIfDone(db: Db, releaseId: number): Promise<boolean> {
  const { rows } = await sql<{ id: number }>`
    UPDATE releases r SET status = 'sent', completed_at = now(), updated_at = now()
    WHERE r.id = ${releaseId} AND r.status = 'sending' AND r.fanout_done_at IS NOT NULL
      AND NOT EXISTS (SELECT 1 FROM deliveries d WHERE d.release_id = r.id AND d.state IN ('queued', 'sending'))
    RETURNING r.id`.execute(db);
  return rows.length > 0;
}

const CANCELLED = 'release cancelled before this message was sent';

/**
 * Cancels the deliveries of a cancelled release that no live worker holds: waiting rows, and rows
 * whose worker died (lease expired). Rows under a live lease are left to their send worker, which
 * stops between messages when it sees the cancellation. Does nothing unless the release is cancelled.
 */
export async function cancelWaiting(db: Db, releaseId: number): Promise<number> {
  const result = await sql`
    UPDATE deliveries d SET state = 'cancelled', last_error = ${CANCELLED}, lease_until = NULL, updated_at = now()
    FROM releases r
    WHERE r.id = ${releaseId} AND r.status = 'cancelled' AND d.release_id = r.id
      AND (d.state = 'queued' OR (d.state = 'sending' AND d.lease_until < now()))`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * Deliveries of a release still waiting or in flight, in id order from a cursor. Rows under a live
 * lease are included: their worker may be gone with its job, and the send job defers until the lease ends.
 */
export async function unfinishedDeliveryIds(db: Db, releaseId: number, afterId: number, limit: number): Promise<number[]> {
  const { rows } = await sql<{ id: number }>`
    SELECT id FROM deliveries
    WHERE release_id = ${releaseId} AND id > ${afterId} AND state IN ('queued', 'sending')
    ORDER BY id LIMIT ${limit}`.execute(db);
  return rows.map((r) => r.id);
}

export interface DeliveryPage {
  items: Array<{
    id: number; email: string; name: string | null; list: string; phase: Phase; state: DeliveryState; attempts: number;
    lastError: string | null; messageId: string | null; sentAt: string | null;
  }>;
  nextCursor: string | null;
}

export async function listDeliveries(
  db: Db, releaseId: number, state: DeliveryState | undefined, afterId: number, limit: number,
): Promise<DeliveryPage> {
  let query = db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .innerJoin('lists as l', 'l.id', 'd.list_id')
    .select(['d.id', 's.email', 's.name', 'l.name as list', 'd.phase', 'd.state', 'd.attempts', 'd.last_error', 'd.message_id', 'd.sent_at'])
    .where('d.release_id', '=', releaseId)
    .where('d.id', '>', afterId)
    .orderBy('d.id')
    .limit(limit + 1);
  if (state) query = query.where('d.state', '=', state);
  const rows = await query.execute();
  const page = rows.slice(0, limit);
  return {
    items: page.map((r) => ({
      id: r.id, email: r.email, name: r.name, list: r.list, phase: r.phase, state: r.state, attempts: r.attempts,
      lastError: r.last_error, messageId: r.message_id, sentAt: r.sent_at?.toISOString() ?? null,
    })),
    nextCursor: rows.length > limit ? String(page[page.length - 1]!.id) : null,
  };
}

/**
 * The deliveries a send job could take now, by release: waiting or in flight, due by PostgreSQL's
 * clock, of a release whose copies may leave (advance copies of a scheduled release, every copy of a
 * sending one), and untouched for `settledSeconds` (a row just written may have its job on the way).
 * Rows staged for a later instant are left out, so reconcile never queues a job that would only
 * find them not yet due. Served by deliveries_release_state per release.
 */
export async function dueUnfinishedDeliveries(db: Db, settledSeconds: number): Promise<Array<{ releaseId: number; ids: number[] }>> {
  const { rows } = await sql<{ release_id: number; ids: number[] }>`
    SELECT d.release_id, array_agg(d.id ORDER BY d.id) AS ids
    FROM releases r JOIN deliveries d ON d.release_id = r.id
    WHERE r.status IN ('scheduled', 'sending') AND d.state IN ('queued', 'sending') AND d.not_before <= now()
      AND (r.status = 'sending' OR d.phase = 'advance') AND d.updated_at < now() - make_interval(secs => ${settledSeconds})
    GROUP BY d.release_id`.execute(db);
  return rows.map((r) => ({ releaseId: r.release_id, ids: r.ids.map(Number) }));
}
