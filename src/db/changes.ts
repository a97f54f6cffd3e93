import { sql, type Transaction } from 'kysely';
import type { Db } from './index.js';
import type { Database, Release, ReleaseChange } from './schema.js';
import type { ChangeKind, DeliveryState } from '../states.js';

type Tx = Transaction<Database>;

/**
 * Changes to a release that people already hold a copy of, and the notices (or corrections) that
 * tell them, as delivery rows of their own phase. Only the lifecycle writes them, inside the
 * transaction that makes the change (src/releases/lifecycle.ts).
 */

export interface NewChange {
  kind: ChangeKind;
  actor: string;
  note: string | null;
  previousEmbargoAt: Date | null;
  /** The compiled notice, stored with the change so every worker sends the same one. */
  compiled: { subject: string; html: string; text: string; replyTo: { name: string; address: string } | null };
}

/**
 * Whether anyone holds an advance copy of the release: sent, or handed to a worker that may be
 * sending it this moment. Served by deliveries_release_state.
 */
export async function hasAdvanceHolders(tx: Tx, releaseId: number): Promise<boolean> {
  const { rows } = await sql<{ found: boolean }>`
    SELECT EXISTS (
      SELECT 1 FROM deliveries WHERE release_id = ${releaseId} AND phase = 'advance' AND state IN ('sent', 'sending')
    ) AS found`.execute(tx);
  return rows[0]!.found;
}

export async function insertChange(tx: Tx, release: Release, change: NewChange): Promise<ReleaseChange> {
  return tx
    .insertInto('release_changes')
    .values({
      release_id: release.id,
      kind: change.kind,
      version: release.version,
      actor: change.actor,
      note: change.note,
      previous_embargo_at: change.previousEmbargoAt,
      embargo_at: release.embargo_at,
      embargo_time_zone: release.embargo_time_zone,
      title: release.title,
      subject: change.compiled.subject,
      html: change.compiled.html,
      text: change.compiled.text,
      reply_to_name: change.compiled.replyTo?.name ?? null,
      reply_to_address: change.compiled.replyTo?.address ?? null,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

/**
 * Freezes a change's notices: one row per person who holds a copy, pointing at that copy (the
 * holder), due now. For a notice under embargo the holders are the advance copies sent or in
 * flight (an in-flight one may yet be withheld: its notice then ends skipped, see claimBatch); for
 * a correction after the lift, every copy that was sent. ON CONFLICT DO NOTHING on (change,
 * recipient) makes the freeze safe to repeat.
 *
 * Coalescing: a notice of an earlier change still waiting for the same person is cancelled when
 * this one carries everything it said (the latest instant, or the withdrawal), so a burst of
 * moves reaches each person as one notice with the last instant. A waiting corrected copy is kept
 * when this change is only a move or a lift: its text is news; the notices then leave in order
 * (claimBatch holds a later one back while an earlier one is in flight).
 */
export async function freezeNotices(
  tx: Tx,
  change: ReleaseChange,
): Promise<{ queuedIds: number[]; superseded: number }> {
  const phase = change.kind === 'correction' ? 'correction' : 'notice';
  const holderPhases = change.kind === 'correction' ? ['advance', 'lift'] : ['advance'];
  const holderStates = change.kind === 'correction' ? ['sent'] : ['sent', 'sending'];
  const keepsCorrected = change.kind === 'moved' || change.kind === 'lifted';
  const { rows } = await sql<{ queued_ids: number[]; superseded: number }>`
    WITH holders AS (
      SELECT DISTINCT ON (h.subscriber_id) h.id, h.subscriber_id, h.list_id
      FROM deliveries h
      WHERE h.release_id = ${change.release_id} AND h.phase = ANY(${holderPhases}::text[]) AND h.state = ANY(${holderStates}::text[])
      ORDER BY h.subscriber_id, h.id
    ),
    superseded AS (
      UPDATE deliveries d SET state = 'cancelled', last_error = ${`superseded by change ${change.id} (${change.kind})`}, updated_at = now()
      FROM release_changes c
      WHERE ${phase} = 'notice' AND d.release_id = ${change.release_id} AND d.phase = 'notice' AND d.state = 'queued'
        AND c.id = d.change_id AND c.id < ${change.id} AND NOT (${keepsCorrected} AND c.kind = 'corrected')
        AND d.subscriber_id IN (SELECT subscriber_id FROM holders)
      RETURNING d.id
    ),
    frozen AS (
      INSERT INTO deliveries (release_id, release_version, subscriber_id, list_id, phase, change_id, holder_id, not_before, state)
      SELECT ${change.release_id}, ${change.version}, h.subscriber_id, h.list_id, ${phase}, ${change.id}, h.id, now(), 'queued'
      FROM holders h
      ON CONFLICT (change_id, subscriber_id) WHERE change_id IS NOT NULL DO NOTHING
      RETURNING id
    )
    SELECT coalesce((SELECT array_agg(id ORDER BY id) FROM frozen), '{}') AS queued_ids,
           (SELECT count(*)::int FROM superseded) AS superseded`.execute(tx);
  return { queuedIds: rows[0]!.queued_ids.map(Number), superseded: rows[0]!.superseded };
}

/** A change's compiled email (what every notice or correction of it carries). */
export async function changeEmail(db: Db, changeId: number) {
  const row = await db
    .selectFrom('release_changes')
    .select(['subject', 'html', 'text', 'reply_to_name', 'reply_to_address'])
    .where('id', '=', changeId)
    .executeTakeFirst();
  if (!row?.subject || row.html === null || row.text === null) return null;
  return {
    subject: row.subject,
    html: row.html,
    text: row.text,
    replyTo: row.reply_to_address ? { name: row.reply_to_name ?? '', address: row.reply_to_address } : null,
  };
}

export interface ChangeSummary {
  id: number;
  kind: ChangeKind;
  at: string;
  actor: string;
  note: string | null;
  version: number;
  previousEmbargoAt: string | null;
  embargoAt: string;
  counts: Record<DeliveryState, number>;
}

/** A release's changes, oldest first, each with its notices counted by state (the report and the API show them). */
export async function releaseChanges(db: Db, releaseId: number): Promise<ChangeSummary[]> {
  const { rows } = await sql<{
    id: number;
    kind: ChangeKind;
    created_at: Date;
    actor: string;
    note: string | null;
    version: number;
    previous_embargo_at: Date | null;
    embargo_at: Date;
    counts: Record<DeliveryState, number> | null;
  }>`
    SELECT c.id, c.kind, c.created_at, c.actor, c.note, c.version, c.previous_embargo_at, c.embargo_at,
           (SELECT jsonb_object_agg(state, n) FROM (SELECT state, count(*)::int AS n FROM deliveries WHERE change_id = c.id GROUP BY state) s) AS counts
    FROM release_changes c WHERE c.release_id = ${releaseId} ORDER BY c.id`.execute(db);
  const zero = { queued: 0, sending: 0, sent: 0, bounced: 0, failed: 0, skipped: 0, cancelled: 0 };
  return rows.map((r) => ({
    id: Number(r.id),
    kind: r.kind,
    at: r.created_at.toISOString(),
    actor: r.actor,
    note: r.note,
    version: r.version,
    previousEmbargoAt: r.previous_embargo_at?.toISOString() ?? null,
    embargoAt: r.embargo_at.toISOString(),
    counts: { ...zero, ...r.counts },
  }));
}

/** The corrections of a lifted release, oldest first: the newsroom prints each as a dated line. */
export async function publicCorrections(db: Db, releaseId: number): Promise<Array<{ at: Date; note: string | null }>> {
  const rows = await db
    .selectFrom('release_changes')
    .select(['created_at', 'note'])
    .where('release_id', '=', releaseId)
    .where('kind', '=', 'correction')
    .orderBy('id')
    .execute();
  return rows.map((r) => ({ at: r.created_at, note: r.note }));
}

/**
 * Revokes the per-recipient file keys of every copy of a release (it was withdrawn): a revoked
 * key then answers exactly as an unknown one.
 */
export async function revokeFileKeys(tx: Tx, releaseId: number): Promise<number> {
  const result = await sql`
    UPDATE deliveries SET files_revoked_at = now()
    WHERE release_id = ${releaseId} AND phase IN ('advance', 'notice') AND files_revoked_at IS NULL`.execute(tx);
  return Number(result.numAffectedRows ?? 0);
}
