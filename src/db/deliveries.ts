import { randomUUID } from 'node:crypto';
import { sql, type Transaction } from 'kysely';
import type { Db } from './index.js';
import type { Database } from './schema.js';
import type { DeliveryPhase, DeliveryState, Phase } from '../states.js';
import { BARRED } from './vetting.js';

type Tx = Transaction<Database>;

export interface FrozenChunk {
  /** Subscriber id to continue after; null when the audience is exhausted (or the version is no longer current). */
  nextCursor: number | null;
  /** Deliveries that are now waiting to be sent (new, or re-staged). */
  queuedIds: number[];
}

export interface FreezeStep {
  releaseId: number;
  /** The version the job was made for; nothing is frozen once the release has moved on. */
  version: number;
  /** The send instant: rows are sent no earlier, and only members who had joined by then are frozen. */
  instant: Date;
  afterSubscriberId: number;
}

/**
 * Freezes the next chunk of the audience of each of some release versions into delivery rows, in
 * one statement: releases lifting at one instant freeze their first chunks together.
 *
 * The release row is read FOR KEY SHARE at the version and status the step expects (scheduled for
 * the advance copies, sending for the lift): a lifecycle change holds the row FOR UPDATE, so it
 * either waits for this chunk and then discards what it staged, or commits first and this chunk
 * finds the version gone and freezes nothing. Members count only if they joined by the instant:
 * a re-run (a crash, or a job restored after its record expired) freezes the same people, and a
 * late joiner never gets an advance copy.
 * DISTINCT ON picks, for someone on several of the release's lists, the first of those lists
 * (invariant "consent sticks"); walking subscriber ids in order (keyset pagination) keeps every chunk an index
 * range scan and never holds the audience in memory. Suppressed addresses get a row in state
 * skipped, so the report says why they were not mailed.
 * One row per (release, subscriber) (invariant "once per recipient"): where one exists, the conflict keeps it, except
 * an advance row that cannot leave any more (skipped, failed, or staged for an older version), which
 * is re-staged for this step. So the lift gives its copy to someone whose advance copy was skipped
 * or failed, and a new version's advance send reaches whoever an older version's plan had left out.
 */
export async function freezeAudienceChunks(
  db: Db,
  phase: Phase,
  chunkSize: number,
  steps: FreezeStep[],
): Promise<Map<number, FrozenChunk>> {
  const status = phase === 'lift' ? 'sending' : 'scheduled';
  const { rows } = await sql<{ release_id: number; last_subscriber: number | null; queued_ids: number[] }>`
    WITH step AS (
      SELECT * FROM unnest(${steps.map((s) => s.releaseId)}::bigint[], ${steps.map((s) => s.version)}::int[],
                           ${steps.map((s) => s.instant)}::timestamptz[], ${steps.map((s) => s.afterSubscriberId)}::bigint[])
        AS t(release_id, version, instant, after_subscriber)
    ),
    release AS (
      SELECT r.id, r.version, step.instant, step.after_subscriber
      FROM releases r JOIN step ON step.release_id = r.id AND step.version = r.version
      WHERE r.status = ${status} FOR KEY SHARE OF r
    ),
    audience AS (
      SELECT release.id AS release_id, release.version, release.instant, a.subscriber_id, a.list_id
      FROM release CROSS JOIN LATERAL (
        SELECT DISTINCT ON (m.subscriber_id) m.subscriber_id, m.list_id
        FROM release_lists rl
        JOIN list_members m ON m.list_id = rl.list_id AND m.status = 'active' AND m.subscribed_at <= release.instant
        WHERE rl.release_id = release.id AND m.subscriber_id > release.after_subscriber AND (${phase} = 'lift' OR rl.advance)
        ORDER BY m.subscriber_id, rl.advance, rl.position
        LIMIT ${chunkSize}
      ) a
    ),
    staged AS (
      INSERT INTO deliveries AS d (release_id, release_version, subscriber_id, list_id, phase, not_before, state, last_error)
      SELECT a.release_id, a.version, a.subscriber_id, a.list_id, ${phase}, a.instant,
             CASE WHEN skip.reason IS NULL THEN 'queued' ELSE 'skipped' END, skip.reason
      FROM audience a
      JOIN subscribers s ON s.id = a.subscriber_id
      LEFT JOIN suppressions x ON x.email_key = s.email_key
      -- A barred person gets no advance copy (the lift, which stages skipped advance rows again,
      -- gives them the lift copy); a paused one nothing while the pause lasts.
      CROSS JOIN LATERAL (SELECT CASE WHEN x.email_key IS NOT NULL THEN 'suppressed: ' || x.reason
                                      WHEN ${phase} = 'advance' AND ${BARRED} THEN 'barred from advance copies'
                                      WHEN s.paused_until > now() THEN 'paused by the subscriber' END AS reason) skip
      ON CONFLICT (release_id, subscriber_id) WHERE phase IN ('advance', 'lift') DO UPDATE
        SET release_version = excluded.release_version, list_id = excluded.list_id, phase = excluded.phase,
            not_before = excluded.not_before, state = excluded.state, last_error = excluded.last_error,
            attempts = 0, lease_until = NULL, claim_token = NULL, message_id = NULL, sent_at = NULL, updated_at = now()
        WHERE d.phase = 'advance'
          AND (d.state IN ('skipped', 'failed') OR (d.state = 'queued' AND d.release_version < excluded.release_version))
          AND (excluded.phase = 'lift' OR d.release_version < excluded.release_version)
      RETURNING d.id, d.state, d.release_id
    )
    SELECT a.release_id, max(a.subscriber_id) AS last_subscriber,
           coalesce((SELECT array_agg(st.id ORDER BY st.id) FROM staged st WHERE st.release_id = a.release_id AND st.state = 'queued'), '{}') AS queued_ids
    FROM audience a GROUP BY a.release_id`.execute(db);
  const chunks = new Map<number, FrozenChunk>(steps.map((s) => [s.releaseId, { nextCursor: null, queuedIds: [] }]));
  for (const row of rows)
    chunks.set(Number(row.release_id), { nextCursor: row.last_subscriber, queuedIds: row.queued_ids.map(Number) });
  return chunks;
}

/** The next chunk of one release version's audience (see freezeAudienceChunks). */
export async function freezeAudienceChunk(db: Db, step: FreezeStep & { phase: Phase; chunkSize: number }) {
  return (await freezeAudienceChunks(db, step.phase, step.chunkSize, [step])).get(step.releaseId)!;
}

/**
 * Deletes a release's staged advance rows made for a version before `version` that were never
 * handed to SMTP: waiting, or held under a lease that expired. Rows under a live lease are left to
 * their worker, which discards them before its next message (see discardClaims). Lifecycle changes
 * call it in their own transaction; advance and lift steps call it for leases that expired since.
 * Deleting (not cancelling) keeps (release, subscriber) free for the current version's plan.
 */
export async function discardStaged(db: Db | Tx, releaseId: number, version: number): Promise<number> {
  const result = await sql`
    DELETE FROM deliveries
    WHERE release_id = ${releaseId} AND phase = 'advance' AND release_version < ${version}
      AND (state = 'queued' OR (state = 'sending' AND lease_until < now()))`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * When the last live lease on rows staged for a version before `version` ends (null when none):
 * their people are left out of a freeze until the worker holding them lets go, so the advance and
 * lift steps look again then.
 */
export async function staleHeldUntil(db: Db, releaseId: number, version: number): Promise<Date | null> {
  const { rows } = await sql<{ until: Date | null }>`
    SELECT max(lease_until) AS until FROM deliveries
    WHERE release_id = ${releaseId} AND release_version < ${version} AND state = 'sending' AND lease_until >= now()`.execute(
    db,
  );
  return rows[0]?.until ?? null;
}

/** One person a copy is addressed to, through one list (its List-Id and unsubscribe link). */
export interface Recipient {
  deliveryId: number;
  releaseId: number;
  subscriberId: number;
  listId: number;
  email: string;
  name: string | null;
  listName: string;
  listSlug: string;
  /** The person's IANA zone, for their embargo line (null: the release's). */
  timeZone?: string | null;
  /** The person asked for plain text only: no HTML part. */
  plainText?: boolean;
}

/**
 * A claimed row is a recipient, with the phase whose compiled email it receives and the release
 * version it was frozen for; a notice or correction names the change whose email it receives.
 */
export type ClaimedDelivery = Recipient & { phase: DeliveryPhase; version: number; changeId: number | null };

export interface Claim {
  /** The fencing token: every later write to these rows, and every message, requires it. */
  token: string;
  deliveries: ClaimedDelivery[];
  /** The job's rows this claim neither took nor skipped: ended already, held by another worker, or not due. */
  passedOver: number;
}

/**
 * Claims the deliveries of a send job that are still due, under a new fencing token. One
 * statement takes row locks and flips state, so two workers never both win a row; a row whose
 * lease expired (its worker died or stalled) can be taken again, and the new token shuts its old
 * holder out. Only rows of the release's current version leave, advance copies while the release is
 * scheduled or sending, lift copies once it is sending; rows whose send instant has not come by
 * PostgreSQL's clock are left alone (invariant "never early"). Consent is read here, the last moment before
 * the message would leave (and again between messages, see recipientStanding): a suppressed address,
 * or someone active on none of the release's lists of the row's phase, is skipped; someone who left
 * the row's list but is still on another is addressed through the first list they are still on.
 *
 * Notices and corrections (rows with a change) leave whatever the release's status and version
 * now: the change they tell of made them, and a later change cancels those still waiting. They go
 * only to someone whose copy (the holder row) was sent, and never while an earlier row of the same
 * person and release is in flight under a live lease (their advance copy, or an earlier notice):
 * so a notice never overtakes the copy or the notice it corrects. A notice reaches people who
 * unsubscribed since (they hold the copy; see README), but never a suppressed address.
 */
export async function claimBatch(db: Db, ids: number[], leaseSeconds: number): Promise<Claim> {
  const token = randomUUID();
  if (ids.length === 0) return { token, deliveries: [], passedOver: 0 };
  const { rows } = await sql<{
    id: number;
    release_id: number;
    release_version: number;
    subscriber_id: number;
    list_id: number;
    state: DeliveryState;
    phase: DeliveryPhase;
    change_id: number | null;
    email: string;
    name: string | null;
    list_name: string;
    list_slug: string;
    time_zone: string | null;
    plain_text: boolean;
  }>`
    WITH candidates AS (
      SELECT d.id, s.email, s.name,
             coalesce(via.id, own.id) AS list_id, coalesce(via.name, own.name) AS list_name, coalesce(via.slug, own.slug) AS list_slug,
             s.time_zone, s.plain_text,
             -- A holder who paused or was barred since still hears of a change to what they hold.
             CASE WHEN x.email_key IS NOT NULL THEN 'suppressed: ' || x.reason
                  WHEN d.change_id IS NOT NULL AND holder.state IS DISTINCT FROM 'sent' THEN 'no copy of the release was sent to this person'
                  WHEN d.phase <> 'notice' AND via.id IS NULL THEN 'unsubscribed before sending'
                  WHEN d.phase = 'advance' AND ${BARRED} THEN 'barred from advance copies'
                  WHEN d.phase <> 'notice' AND s.paused_until > now() THEN 'paused by the subscriber' END AS skip_reason
      FROM deliveries d
      JOIN releases r ON r.id = d.release_id
        AND (d.change_id IS NOT NULL OR (r.version = d.release_version AND (r.status = 'sending' OR (d.phase = 'advance' AND r.status = 'scheduled'))))
      JOIN subscribers s ON s.id = d.subscriber_id
      JOIN lists own ON own.id = d.list_id
      LEFT JOIN deliveries holder ON holder.id = d.holder_id
      LEFT JOIN suppressions x ON x.email_key = s.email_key
      LEFT JOIN LATERAL (
        SELECT l.id, l.name, l.slug
        FROM release_lists rl
        JOIN list_members m ON m.list_id = rl.list_id AND m.subscriber_id = d.subscriber_id AND m.status = 'active'
        JOIN lists l ON l.id = rl.list_id
        WHERE rl.release_id = d.release_id AND (d.phase IN ('lift', 'correction') OR rl.advance)
        ORDER BY rl.advance, rl.position
        LIMIT 1
      ) via ON d.phase <> 'notice'
      WHERE d.id = ANY(${ids}::bigint[])
        AND d.not_before <= now()
        AND (d.state = 'queued' OR (d.state = 'sending' AND d.lease_until < now()))
        AND NOT (d.change_id IS NOT NULL AND EXISTS (
          SELECT 1 FROM deliveries e
          WHERE e.release_id = d.release_id AND e.subscriber_id = d.subscriber_id AND e.id < d.id AND e.state = 'sending' AND e.lease_until >= now()
        ))
      FOR UPDATE OF d SKIP LOCKED
    )
    UPDATE deliveries d
    SET state = CASE WHEN c.skip_reason IS NULL THEN 'sending' ELSE 'skipped' END,
        attempts = d.attempts + CASE WHEN c.skip_reason IS NULL THEN 1 ELSE 0 END,
        last_error = coalesce(c.skip_reason, d.last_error),
        list_id = coalesce(c.list_id, d.list_id),
        lease_until = CASE WHEN c.skip_reason IS NULL THEN now() + make_interval(secs => ${leaseSeconds}) END,
        claim_token = CASE WHEN c.skip_reason IS NULL THEN ${token}::uuid END,
        updated_at = now()
    FROM candidates c
    WHERE d.id = c.id
    RETURNING d.id, d.release_id, d.release_version, d.subscriber_id, d.list_id, d.state, d.phase, d.change_id, c.email, c.name, c.list_name, c.list_slug,
              c.time_zone, c.plain_text`.execute(db);
  const deliveries = rows
    .filter((r) => r.state === 'sending')
    .map((r) => ({
      deliveryId: r.id,
      releaseId: r.release_id,
      subscriberId: r.subscriber_id,
      listId: r.list_id,
      email: r.email,
      name: r.name,
      listName: r.list_name,
      listSlug: r.list_slug,
      phase: r.phase,
      version: r.release_version,
      timeZone: r.time_zone,
      plainText: r.plain_text,
      changeId: r.change_id === null ? null : Number(r.change_id),
    }));
  return { token, deliveries, passedOver: ids.length - rows.length };
}

/**
 * Extends the lease of the rows this claim still holds, and says which they are: a row missing
 * from the answer was taken over, discarded or finished, and must not be sent by this claim.
 */
export async function renewLease(db: Db, ids: number[], token: string, leaseSeconds: number): Promise<Set<number>> {
  if (ids.length === 0) return new Set();
  const { rows } = await sql<{ id: number }>`
    UPDATE deliveries SET lease_until = now() + make_interval(secs => ${leaseSeconds})
    WHERE id = ANY(${ids}::bigint[]) AND state = 'sending' AND claim_token = ${token}::uuid
    RETURNING id`.execute(db);
  return new Set(rows.map((r) => r.id));
}

export interface RecipientStanding {
  id: number;
  /** The row is still sending under this claim's token. */
  held: boolean;
  /** Why the recipient must not be mailed now (unsubscribed from every list of the row's phase, or suppressed). */
  skipReason: string | null;
}

/**
 * Where a claimed batch's remaining recipients stand, in one query: their rows still held by this
 * claim, and they still wanting the release. A send worker asks it about once a second, so an
 * unsubscribe, a staff suppression or a hard bounce elsewhere reaches a running batch before its
 * next message, not only at claim time (invariant "the audience is frozen at the lift").
 */
export async function recipientStanding(db: Db, ids: number[], token: string): Promise<RecipientStanding[]> {
  if (ids.length === 0) return [];
  const { rows } = await sql<{ id: number; held: boolean; skip_reason: string | null }>`
    SELECT d.id,
           d.state = 'sending' AND d.claim_token IS NOT DISTINCT FROM ${token}::uuid AS held,
           CASE WHEN x.email_key IS NOT NULL THEN 'suppressed: ' || x.reason
                WHEN d.phase <> 'notice' AND NOT EXISTS (
                  SELECT 1 FROM release_lists rl
                  JOIN list_members m ON m.list_id = rl.list_id AND m.subscriber_id = d.subscriber_id AND m.status = 'active'
                  WHERE rl.release_id = d.release_id AND (d.phase IN ('lift', 'correction') OR rl.advance)
                ) THEN 'unsubscribed before sending' END AS skip_reason
    FROM deliveries d
    JOIN subscribers s ON s.id = d.subscriber_id
    LEFT JOIN suppressions x ON x.email_key = s.email_key
    WHERE d.id = ANY(${ids}::bigint[])`.execute(db);
  return rows.map((r) => ({ id: r.id, held: r.held, skipReason: r.skip_reason }));
}

/**
 * When the last live lease among these deliveries ends (null when none is held), counting for a
 * waiting notice the earlier rows of its person that hold it back (see claimBatch).
 */
export async function leaseHeldUntil(db: Db, ids: number[]): Promise<Date | null> {
  // Two branches, not one join on an OR: with the OR, PostgreSQL scanned every row of the release
  // in flight for each of the job's rows (1.7 s a batch of 200 halfway through 20,000).
  const { rows } = await sql<{ until: Date | null }>`
    SELECT max(until) AS until FROM (
      SELECT lease_until AS until FROM deliveries
      WHERE id = ANY(${ids}::bigint[]) AND state = 'sending' AND lease_until >= now()
      UNION ALL
      SELECT e.lease_until
      FROM deliveries d
      JOIN deliveries e ON e.release_id = d.release_id AND e.subscriber_id = d.subscriber_id AND e.id < d.id
      WHERE d.id = ANY(${ids}::bigint[]) AND d.change_id IS NOT NULL AND d.state = 'queued'
        AND e.state = 'sending' AND e.lease_until >= now()
    ) held`.execute(db);
  return rows[0]?.until ?? null;
}

export interface SentRecord {
  id: number;
  /** The claim the message was sent under. */
  token: string;
  messageId: string;
}

/**
 * Marks accepted messages sent, many rows (of any batches of this process) at once, and notes on
 * their releases when the first and the latest copies, and the first advance copy, were accepted.
 * Every time is the recording UPDATE's now(), PostgreSQL's clock like every embargo decision, so
 * "was anything early?" compares like with like. A sent row keeps the token of the claim that sent
 * it. Returns the rows this claim recorded: one whose claim passed to another worker meanwhile is
 * not (the message may go out twice, inside the once-per-recipient window).
 * Two statements, each safe to repeat (the caller retries a failed write whole): the release is
 * updated after the deliveries and not in their transaction, because a lifecycle change locks the
 * release before its deliveries, and one transaction taking them the other way round could deadlock.
 */
export async function recordSent(db: Db, sent: SentRecord[]): Promise<Set<number>> {
  if (sent.length === 0) return new Set();
  const ids = sent.map((s) => s.id);
  const tokens = sent.map((s) => s.token);
  await sql`
    UPDATE deliveries d
    SET state = 'sent', sent_at = now(), message_id = v.message_id, lease_until = NULL, last_error = NULL, updated_at = now()
    FROM unnest(${ids}::bigint[], ${tokens}::uuid[], ${sent.map((s) => s.messageId)}::text[]) AS v(id, token, message_id)
    WHERE d.id = v.id AND d.state = 'sending' AND d.claim_token = v.token`.execute(db);
  const { rows } = await sql<{ id: number }>`
    WITH mine AS (
      SELECT d.id, d.release_id, d.phase, d.sent_at
      FROM deliveries d JOIN unnest(${ids}::bigint[], ${tokens}::uuid[]) AS v(id, token) ON d.id = v.id AND d.claim_token = v.token
      WHERE d.state = 'sent'
    ),
    noted AS (
      UPDATE releases r
      SET first_sent_at = least(r.first_sent_at, t.first_lift), last_sent_at = greatest(r.last_sent_at, t.last_lift),
          advance_sent_at = least(r.advance_sent_at, t.first_advance)
      FROM (SELECT release_id, min(sent_at) FILTER (WHERE phase = 'lift') AS first_lift, max(sent_at) FILTER (WHERE phase = 'lift') AS last_lift,
                   min(sent_at) FILTER (WHERE phase = 'advance') AS first_advance
            FROM mine GROUP BY release_id) t
      WHERE r.id = t.release_id
    )
    SELECT id FROM mine`.execute(db);
  return new Set(rows.map((r) => r.id));
}

export interface FailureRecord {
  id: number;
  error: string;
  /** The reply says the address must not be mailed again (a hard bounce). */
  suppress?: boolean;
}

/**
 * Ends deliveries of a claim as failed (a permanent reply, or the retry budget spent), and
 * suppresses the addresses whose reply asked for it, in one statement: the failure and the
 * suppression are never recorded one without the other.
 */
export async function recordFailed(db: Db, failed: FailureRecord[], token: string): Promise<void> {
  if (failed.length === 0) return;
  await sql`
    WITH v AS (
      SELECT * FROM unnest(${failed.map((r) => r.id)}::bigint[], ${failed.map((r) => r.error)}::text[], ${failed.map((r) => r.suppress ?? false)}::boolean[])
        AS v(id, error, suppress)
    ),
    failed AS (
      UPDATE deliveries d SET state = 'failed', last_error = v.error, lease_until = NULL, claim_token = NULL, updated_at = now()
      FROM v WHERE d.id = v.id AND d.state = 'sending' AND d.claim_token = ${token}::uuid
    )
    INSERT INTO suppressions (email_key, reason, source, details)
    SELECT s.email_key, v.error, 'smtp', jsonb_build_object('deliveryId', d.id, 'releaseId', d.release_id)
    FROM v JOIN deliveries d ON d.id = v.id JOIN subscribers s ON s.id = d.subscriber_id
    WHERE v.suppress
    ON CONFLICT (email_key) DO NOTHING`.execute(db);
}

/** Hands a claim's deliveries back to the queue (a transient failure, a pause, or a lease it could not keep). */
export async function releaseClaims(db: Db, released: FailureRecord[], token: string): Promise<void> {
  await moveSending(db, released, 'queued', token);
}

/** Ends a claim's deliveries of a cancelled release that were never handed to SMTP. */
export async function recordCancelled(db: Db, ids: number[], token: string): Promise<void> {
  await moveSending(
    db,
    ids.map((id) => ({ id, error: CANCELLED })),
    'cancelled',
    token,
  );
}

/** Ends a claim's deliveries whose recipient unsubscribed or was suppressed after the claim. */
export async function recordSkipped(db: Db, skipped: FailureRecord[], token: string): Promise<void> {
  await moveSending(db, skipped, 'skipped', token);
}

async function moveSending(
  db: Db,
  rows: FailureRecord[],
  to: 'failed' | 'queued' | 'cancelled' | 'skipped',
  token: string,
): Promise<void> {
  if (rows.length === 0) return;
  await sql`
    UPDATE deliveries d
    SET state = ${to}, last_error = v.error, lease_until = NULL, claim_token = NULL, updated_at = now()
    FROM unnest(${rows.map((r) => r.id)}::bigint[], ${rows.map((r) => r.error)}::text[]) AS v(id, error)
    WHERE d.id = v.id AND d.state = 'sending' AND d.claim_token = ${token}::uuid`.execute(db);
}

/**
 * Deletes a claim's rows that were staged for a version of the release that is no longer current
 * (an edit, a move, an unschedule or a lift-now came while the batch ran). Like discardStaged, it
 * frees (release, subscriber) for the current version's plan, whose step is waiting for it.
 */
export async function discardClaims(db: Db, ids: number[], token: string): Promise<void> {
  if (ids.length === 0) return;
  await sql`
    DELETE FROM deliveries d USING releases r
    WHERE d.id = ANY(${ids}::bigint[]) AND d.state = 'sending' AND d.claim_token = ${token}::uuid
      AND r.id = d.release_id AND d.release_version < r.version`.execute(db);
}

const CANCELLED = 'release cancelled before this message was sent';

/**
 * Cancels the deliveries of a cancelled release that no live worker holds: waiting rows, and rows
 * whose worker died (lease expired). Rows under a live lease are left to their send worker, which
 * stops between messages when it sees the cancellation. Does nothing unless the release is cancelled.
 */
export async function cancelWaiting(db: Db | Tx, releaseId: number): Promise<number> {
  const result = await sql`
    UPDATE deliveries d SET state = 'cancelled', last_error = ${CANCELLED}, lease_until = NULL, claim_token = NULL, updated_at = now()
    WHERE d.release_id = ${releaseId} AND d.change_id IS NULL
      AND (d.state = 'queued' OR (d.state = 'sending' AND d.lease_until < now()))
      -- Uncorrelated, so checked once before any row is read: every batch's end asks, and most
      -- releases are not cancelled.
      AND (SELECT status FROM releases WHERE id = ${releaseId}) = 'cancelled'`.execute(db);
  return Number(result.numAffectedRows ?? 0);
}

/**
 * Queues a release's failed deliveries of its current version again (staff asked for a retry).
 * Rows staged for an outdated plan stay failed: that plan no longer sends.
 */
export async function requeueFailed(tx: Tx, releaseId: number): Promise<number[]> {
  const { rows } = await sql<{ id: number }>`
    UPDATE deliveries d SET state = 'queued', lease_until = NULL, claim_token = NULL, updated_at = now()
    FROM releases r
    WHERE r.id = ${releaseId} AND d.release_id = r.id AND d.release_version = r.version AND d.state = 'failed'
    RETURNING d.id`.execute(tx);
  return rows.map((r) => r.id).sort((a, b) => a - b);
}

/**
 * Deliveries of a release still waiting or in flight, in id order from a cursor. Rows under a live
 * lease are included: their worker may be gone with its job, and the send job defers until the lease ends.
 */
export async function unfinishedDeliveryIds(
  db: Db,
  releaseId: number,
  afterId: number,
  limit: number,
): Promise<number[]> {
  const { rows } = await sql<{ id: number }>`
    SELECT id FROM deliveries
    WHERE release_id = ${releaseId} AND id > ${afterId} AND state IN ('queued', 'sending')
    ORDER BY id LIMIT ${limit}`.execute(db);
  return rows.map((r) => r.id);
}

export interface DeliveryPage {
  items: Array<{
    id: number;
    email: string;
    name: string | null;
    list: string;
    phase: DeliveryPhase;
    state: DeliveryState;
    attempts: number;
    changeId: number | null;
    lastError: string | null;
    messageId: string | null;
    sentAt: string | null;
  }>;
  nextCursor: string | null;
}

export async function listDeliveries(
  db: Db,
  releaseId: number,
  state: DeliveryState | undefined,
  afterId: number,
  limit: number,
): Promise<DeliveryPage> {
  let query = db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .innerJoin('lists as l', 'l.id', 'd.list_id')
    .select([
      'd.id',
      's.email',
      's.name',
      'l.name as list',
      'd.phase',
      'd.change_id',
      'd.state',
      'd.attempts',
      'd.last_error',
      'd.message_id',
      'd.sent_at',
    ])
    .where('d.release_id', '=', releaseId)
    .where('d.id', '>', afterId)
    .orderBy('d.id')
    .limit(limit + 1);
  if (state) query = query.where('d.state', '=', state);
  const rows = await query.execute();
  const page = rows.slice(0, limit);
  return {
    items: page.map((r) => ({
      id: r.id,
      email: r.email,
      name: r.name,
      list: r.list,
      phase: r.phase,
      changeId: r.change_id,
      state: r.state,
      attempts: r.attempts,
      lastError: r.last_error,
      messageId: r.message_id,
      sentAt: r.sent_at?.toISOString() ?? null,
    })),
    nextCursor: rows.length > limit ? String(page[page.length - 1]!.id) : null,
  };
}

/**
 * The deliveries a send job could take now, by release: waiting or in flight, due by PostgreSQL's
 * clock, of a release whose copies may leave (advance copies of a scheduled release, every copy of a
 * sending one), and untouched for `settledSeconds` (a row just written may have its job on the way).
 * Rows staged for a later instant, or for an outdated version of the release (which no claim takes,
 * and which their worker or the next advance or lift step discards), are left out, so reconcile never
 * queues a job that would find nothing to send. Served by deliveries_release_state per release.
 */
export async function dueUnfinishedDeliveries(
  db: Db,
  settledSeconds: number,
): Promise<Array<{ releaseId: number; ids: number[] }>> {
  const { rows } = await sql<{ release_id: number; ids: number[] }>`
    SELECT d.release_id, array_agg(d.id ORDER BY d.id) AS ids
    FROM releases r JOIN deliveries d ON d.release_id = r.id
    WHERE d.state IN ('queued', 'sending') AND d.not_before <= now() AND d.updated_at < now() - make_interval(secs => ${settledSeconds})
      AND ((r.status IN ('scheduled', 'sending') AND d.release_version = r.version AND (r.status = 'sending' OR d.phase = 'advance'))
           -- Notices and corrections leave whatever the release's status (see claimBatch).
           OR d.change_id IS NOT NULL)
    GROUP BY d.release_id`.execute(db);
  return rows.map((r) => ({ releaseId: r.release_id, ids: r.ids.map(Number) }));
}

/** Deliveries by state across every release (the metrics gauge). */
export function deliveriesByState(db: Db): Promise<Array<{ key: DeliveryState; n: number }>> {
  return db
    .selectFrom('deliveries')
    .select(['state as key', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('state')
    .execute();
}
