import { sql, type Transaction, type UpdateObject } from 'kysely';
import type { Db } from './index.js';
import { type Database, type Release } from './schema.js';
import { DomainError } from '../errors.js';
import { DELIVERY_STATES, type DeliveryState, type ReleaseStatus } from '../states.js';

type Tx = Transaction<Database>;

export interface ReleaseDraft {
  title: string;
  summary: string | null;
  bodyMarkdown: string;
  embargoAt: Date;
  embargoTimeZone: string;
  contact: { name: string | null; email: string | null; phone: string | null };
  /** Advance copies go out this long before the embargo; null when the release has no advance lists. */
  advanceLeadSeconds: number | null;
}

/** A new draft, version 1. It has no slug: the public address is made at the lift (see markSending). */
export async function insertRelease(tx: Tx, draft: ReleaseDraft, actor: string): Promise<Release> {
  return tx
    .insertInto('releases')
    .values({
      title: draft.title,
      summary: draft.summary,
      body_md: draft.bodyMarkdown,
      embargo_at: draft.embargoAt,
      embargo_time_zone: draft.embargoTimeZone,
      created_by: actor,
      contact_name: draft.contact.name,
      contact_email: draft.contact.email,
      contact_phone: draft.contact.phone,
      advance_lead_seconds: draft.advanceLeadSeconds,
    })
    .returningAll()
    .executeTakeFirstOrThrow();
}

export interface ReleaseLists {
  /** The lists sent at the lift, in order of precedence; absent leaves them as they are. */
  lift?: number[];
  /** The advance lists; absent leaves them as they are, [] removes them. */
  advance?: number[];
}

/**
 * Replaces a release's lift lists, advance lists, or both, in the order given (someone on several
 * is addressed through the first). Every kind being replaced is deleted before anything is
 * inserted, so a list can move from one kind to the other in one change: (release, list) is the key.
 */
export async function setReleaseLists(tx: Tx, releaseId: number, lists: ReleaseLists): Promise<void> {
  const kinds = (['lift', 'advance'] as const).filter((kind) => lists[kind] !== undefined);
  if (kinds.length === 0) return;
  await tx
    .deleteFrom('release_lists')
    .where('release_id', '=', releaseId)
    .where(
      'advance',
      'in',
      kinds.map((kind) => kind === 'advance'),
    )
    .execute();
  const rows = kinds.flatMap((kind) =>
    lists[kind]!.map((listId, position) => ({
      release_id: releaseId,
      list_id: listId,
      position,
      advance: kind === 'advance',
    })),
  );
  if (rows.length > 0) await tx.insertInto('release_lists').values(rows).execute();
}

export async function findRelease(db: Db, id: number): Promise<Release | null> {
  return (await db.selectFrom('releases').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/** A release's status and version alone: what a running send batch asks several times a second. */
export async function releaseStanding(db: Db, id: number): Promise<{ status: ReleaseStatus; version: number } | null> {
  return (
    (await db.selectFrom('releases').select(['status', 'version']).where('id', '=', id).executeTakeFirst()) ?? null
  );
}

/** The release row, locked until the transaction ends: a lifecycle change reads and decides under this lock. */
export async function lockRelease(tx: Tx, id: number): Promise<Release | null> {
  return (await tx.selectFrom('releases').selectAll().where('id', '=', id).forUpdate().executeTakeFirst()) ?? null;
}

/** What a lifecycle write expects to find: the release in one of these statuses, at this version. */
export interface Expected {
  id: number;
  version: number;
  from: readonly ReleaseStatus[];
}

const bump = { version: sql<number>`version + 1` };

/**
 * The one shape of every lifecycle write: a conditional UPDATE on the status and version the
 * transition expects, so of two writers racing for the same change exactly one wins, and a
 * writer acting on an old reading changes nothing. Null when the expectation no longer holds.
 */
async function transitionUpdate(
  db: Db | Tx,
  expected: Expected,
  set: UpdateObject<Database, 'releases'>,
  extra = sql<boolean>`true`,
): Promise<Release | null> {
  const row = await db
    .updateTable('releases')
    .set({ ...set, updated_at: sql`now()` })
    .where('id', '=', expected.id)
    .where('version', '=', expected.version)
    .where('status', 'in', [...expected.from])
    .where(extra)
    .returningAll()
    .executeTakeFirst();
  return row ?? null;
}

/** draft → scheduled, same version: its lift job is made for this version. */
export const markScheduled = (tx: Tx, expected: Expected) => transitionUpdate(tx, expected, { status: 'scheduled' });

/** What an edit may change; absent fields stay as they are. */
export interface ReleaseFields {
  title?: string;
  summary?: string | null;
  bodyMarkdown?: string;
  embargo?: { instant: Date; timeZone: string };
  contact?: { name: string | null; email: string | null; phone: string | null };
  advanceLeadSeconds?: number | null;
}

/** A new version with the changed fields; the status stays. */
export const applyEdit = (tx: Tx, expected: Expected, fields: ReleaseFields) =>
  transitionUpdate(tx, expected, {
    ...bump,
    ...(fields.title !== undefined && { title: fields.title }),
    ...(fields.summary !== undefined && { summary: fields.summary }),
    ...(fields.bodyMarkdown !== undefined && { body_md: fields.bodyMarkdown }),
    ...(fields.embargo && { embargo_at: fields.embargo.instant, embargo_time_zone: fields.embargo.timeZone }),
    ...(fields.contact && {
      contact_name: fields.contact.name,
      contact_email: fields.contact.email,
      contact_phone: fields.contact.phone,
    }),
    ...(fields.advanceLeadSeconds !== undefined && { advance_lead_seconds: fields.advanceLeadSeconds }),
  });

/**
 * A new version, same status and fields: what the previous version compiled or planned is outdated (a file was added).
 */
export const markChanged = (tx: Tx, expected: Expected) => transitionUpdate(tx, expected, bump);

/** → draft, a new version; an early lift asked for is withdrawn. */
export const markDraft = (tx: Tx, expected: Expected) =>
  transitionUpdate(tx, expected, { status: 'draft', lift_requested_at: null, ...bump });

/** → scheduled, a new version whose send instant is now (send_at is LEAST(embargo, requested lift)). */
export const markLiftRequested = (tx: Tx, expected: Expected) =>
  transitionUpdate(tx, expected, { status: 'scheduled', lift_requested_at: sql`now()`, ...bump });

/** → cancelled, same version: every job of the release turns into a no-op. */
export const markCancelled = (tx: Tx, expected: Expected) =>
  transitionUpdate(tx, expected, { status: 'cancelled', cancelled_at: sql`now()` });

/**
 * scheduled → sending: the lift of releases due at one instant, with their audit entries (and the
 * lag from the send instant) in the same statement, because it is on the clock: one round trip from
 * the instant to the freeze, however many lift at once. Returns those that were lifted. Only
 * once the send instant has passed by PostgreSQL's clock, and only for the version the lift job was
 * made for, whose title the slug was made from: no address carries the headline before the lift.
 */
export async function markSending(
  db: Db,
  lifts: Array<{
    id: number;
    version: number;
    slug: string;
    audit: { actor: string; details: Record<string, unknown> };
  }>,
): Promise<Release[]> {
  const { rows } = await sql<Release>`
    WITH lift AS (
      SELECT * FROM unnest(${lifts.map((l) => l.id)}::bigint[], ${lifts.map((l) => l.version)}::int[],
                           ${lifts.map((l) => l.slug)}::text[], ${lifts.map((l) => l.audit.actor)}::text[],
                           ${lifts.map((l) => JSON.stringify(l.audit.details))}::jsonb[])
        AS t(id, version, slug, actor, details)
    ),
    lifted AS (
      UPDATE releases r SET status = 'sending', lifted_at = now(), slug = lift.slug, updated_at = now()
      FROM lift
      WHERE r.id = lift.id AND r.version = lift.version AND r.status = 'scheduled'
        AND r.send_at <= now() AND r.fanout_done_at IS NULL
      RETURNING r.*
    ),
    audited AS (
      INSERT INTO audit (release_id, actor, action, details)
      SELECT lifted.id, lift.actor, 'lifted', lift.details || jsonb_build_object('lagMs', round(extract(epoch FROM lifted.lifted_at - lifted.send_at) * 1000))
      FROM lifted JOIN lift ON lift.id = lifted.id
    )
    SELECT * FROM lifted`.execute(db);
  return rows;
}

/**
 * sending → sent once fan-out is complete and no delivery is waiting or in flight. Conditional, so
 * of several workers finishing at once exactly one completes it. Any version: a sending release's
 * version no longer changes.
 */
export async function markSent(tx: Tx, releaseId: number): Promise<Release | null> {
  const row = await tx
    .updateTable('releases as r')
    .set({ status: 'sent', completed_at: sql`now()`, updated_at: sql`now()` })
    .where('r.id', '=', releaseId)
    .where('r.status', '=', 'sending')
    .where('r.fanout_done_at', 'is not', null)
    .where(({ not, exists, selectFrom }) =>
      not(
        exists(
          selectFrom('deliveries as d')
            .select('d.id')
            .whereRef('d.release_id', '=', 'r.id')
            .where('d.state', 'in', ['queued', 'sending']),
        ),
      ),
    )
    .returningAll()
    .executeTakeFirst();
  return row ?? null;
}

/** sent → sending: failed deliveries were queued again. */
export const markReopened = (tx: Tx, expected: Expected) =>
  transitionUpdate(tx, expected, { status: 'sending', completed_at: null });

/** Notes that the lift has frozen its whole audience (a lift that crashed before this resumes its fan-out). */
export async function markFanoutDone(db: Db, releaseId: number, version: number): Promise<boolean> {
  const result = await db
    .updateTable('releases')
    .set({ fanout_done_at: sql`now()` })
    .where('id', '=', releaseId)
    .where('version', '=', version)
    .where('status', '=', 'sending')
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
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
  const counts = Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>;
  // Counts kept before a state existed (bounced) read as 0 of it.
  if (kept?.delivery_counts) return { ...counts, ...kept.delivery_counts };
  const rows = await db
    .selectFrom('deliveries')
    .select(['state', (eb) => eb.fn.countAll<number>().as('n')])
    .where('release_id', '=', releaseId)
    .groupBy('state')
    .execute();
  for (const row of rows) counts[row.state] = Number(row.n);
  return counts;
}

/** Releases a page shows when its reader does not say (the API's default, the console's page). */
export const RELEASES_PAGE = 50;

/** Where a page of releases starts: after this release in (embargo_at, id) order. */
export interface ReleasePageStart {
  embargoAt: Date;
  id: number;
}

/**
 * The start of the page after the release `afterId` (none: the first page); `field` is the input
 * that named it, for the refusal when it names no release.
 */
export async function releasePageStart(
  db: Db,
  afterId: number | undefined,
  field: string,
): Promise<ReleasePageStart | undefined> {
  if (afterId === undefined) return undefined;
  const row = await db.selectFrom('releases').select(['embargo_at', 'id']).where('id', '=', afterId).executeTakeFirst();
  if (!row) throw new DomainError('invalid_input', `${field}: names no release`, field);
  return { embargoAt: row.embargo_at, id: row.id };
}

/**
 * The keyset condition of a page of releases, newest embargo first, ties by id: the releases_embargo_id
 * index serves every page in the order asked, so page 50 costs what page 1 does.
 */
export const releasesAfter = (start: ReleasePageStart | undefined) =>
  start ? sql<boolean>`(embargo_at, id) < (${start.embargoAt}, ${start.id})` : sql<boolean>`true`;

/** One page of releases, newest embargo first, those after `start` when given. */
export async function releasePage(db: Db, limit: number, start?: ReleasePageStart): Promise<Release[]> {
  return db
    .selectFrom('releases')
    .selectAll()
    .where(releasesAfter(start))
    .orderBy('embargo_at', 'desc')
    .orderBy('id', 'desc')
    .limit(limit)
    .execute();
}

/** The lift and advance lists of many releases in one query (a page of them), in their positions. */
export async function releaseListIdsOf(
  db: Db,
  releaseIds: number[],
): Promise<Map<number, { lift: number[]; advance: number[] }>> {
  const lists = new Map(releaseIds.map((id) => [id, { lift: [] as number[], advance: [] as number[] }]));
  if (releaseIds.length === 0) return lists;
  const rows = await db
    .selectFrom('release_lists')
    .select(['release_id', 'list_id', 'advance'])
    .where('release_id', 'in', releaseIds)
    .orderBy('release_id')
    .orderBy('position')
    .execute();
  for (const row of rows) lists.get(row.release_id)![row.advance ? 'advance' : 'lift'].push(row.list_id);
  return lists;
}

/**
 * deliveryCounts for a page of releases in one grouped query (deliveries_release_state serves it);
 * releases whose rows retention pruned read the counts they kept.
 */
export async function deliveryCountsOf(
  db: Db,
  releases: Release[],
): Promise<Map<number, Record<DeliveryState, number>>> {
  const zero = () => Object.fromEntries(DELIVERY_STATES.map((s) => [s, 0])) as Record<DeliveryState, number>;
  const counts = new Map(releases.map((r) => [r.id, r.delivery_counts ? { ...zero(), ...r.delivery_counts } : zero()]));
  const counted = releases.filter((r) => !r.delivery_counts).map((r) => r.id);
  if (counted.length === 0) return counts;
  const rows = await db
    .selectFrom('deliveries')
    .select(['release_id', 'state', (eb) => eb.fn.countAll<number>().as('n')])
    .where('release_id', 'in', counted)
    .groupBy(['release_id', 'state'])
    .execute();
  for (const row of rows) counts.get(row.release_id)![row.state] = Number(row.n);
  return counts;
}

/** The database clock: every embargo decision is taken against it, never a worker's clock. */
export async function databaseNow(db: Db): Promise<Date> {
  const { rows } = await sql<{ now: Date }>`SELECT now() AS now`.execute(db);
  return rows[0]!.now;
}

/** A release whose lift (or advance send) needs a job: scheduled, or sending with its fan-out unfinished. */
export type Liftable = Pick<
  Release,
  | 'id'
  | 'version'
  | 'status'
  | 'send_at'
  | 'embargo_at'
  | 'advance_lead_seconds'
  | 'lift_requested_at'
  | 'fanout_done_at'
  | 'advance_sent_at'
>;

/** Every release reconcile must give a lift job: few rows, served by releases_status. */
export async function liftableReleases(db: Db): Promise<Liftable[]> {
  return db
    .selectFrom('releases')
    .select([
      'id',
      'version',
      'status',
      'send_at',
      'embargo_at',
      'advance_lead_seconds',
      'lift_requested_at',
      'fanout_done_at',
      'advance_sent_at',
    ])
    .where((eb) =>
      eb.or([eb('status', '=', 'scheduled'), eb.and([eb('status', '=', 'sending'), eb('fanout_done_at', 'is', null)])]),
    )
    .orderBy('send_at')
    .execute();
}

/**
 * Lifts that are late by PostgreSQL's clock, more than `graceSeconds` after their send instant:
 * releases still scheduled (no worker, a lost job, a pause) or whose fan-out has not finished.
 * Late lifts that did happen are in latelyLifted.
 */
export async function overdueLifts(
  db: Db,
  graceSeconds: number,
): Promise<Array<{ id: number; version: number; sendAt: Date; lateSeconds: number }>> {
  const { rows } = await sql<{ id: number; version: number; send_at: Date; late_seconds: number }>`
    SELECT id, version, send_at, extract(epoch FROM now() - send_at)::int AS late_seconds FROM releases
    WHERE (status = 'scheduled' OR (status = 'sending' AND fanout_done_at IS NULL))
      AND send_at < now() - make_interval(secs => ${graceSeconds})
    ORDER BY send_at`.execute(db);
  return rows.map((r) => ({ id: r.id, version: r.version, sendAt: r.send_at, lateSeconds: r.late_seconds }));
}

/**
 * Releases lifted in the last day more than `thresholdSeconds` after their send instant (a lift that happened late).
 */
export async function latelyLifted(
  db: Db,
  thresholdSeconds: number,
): Promise<Array<{ id: number; version: number; lagSeconds: number }>> {
  const { rows } = await sql<{ id: number; version: number; lag_seconds: number }>`
    SELECT id, version, extract(epoch FROM lifted_at - send_at)::int AS lag_seconds FROM releases
    WHERE lifted_at > now() - interval '1 day' AND lifted_at > send_at + make_interval(secs => ${thresholdSeconds})`.execute(
    db,
  );
  return rows.map((r) => ({ id: r.id, version: r.version, lagSeconds: r.lag_seconds }));
}

/**
 * Releases that completed in the last day with failed deliveries, with their counts (served by
 * deliveries_release_state).
 */
export async function finishedWithFailures(
  db: Db,
): Promise<Array<{ id: number; completedAt: Date; failed: number; total: number }>> {
  const { rows } = await sql<{ id: number; completed_at: Date; failed: number; total: number }>`
    SELECT r.id, r.completed_at, c.failed, c.total FROM releases r
    CROSS JOIN LATERAL (
      SELECT count(*) FILTER (WHERE d.state = 'failed')::int AS failed, count(*)::int AS total FROM deliveries d WHERE d.release_id = r.id
    ) c
    WHERE r.status = 'sent' AND r.completed_at > now() - interval '1 day' AND c.failed > 0`.execute(db);
  return rows.map((r) => ({ id: r.id, completedAt: r.completed_at, failed: r.failed, total: r.total }));
}

/** Releases by status (the metrics gauge). */
export function releasesByStatus(db: Db): Promise<Array<{ key: ReleaseStatus; n: number }>> {
  return db
    .selectFrom('releases')
    .select(['status as key', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('status')
    .execute();
}
