import { sql } from 'kysely';
import type { Db } from './index.js';

/**
 * The one test of whether the public may see a release (invariant "embargoed text stays home"): the lift worker has
 * lifted
 * it, which it does only once the send instant has passed by PostgreSQL's clock. Cancelled
 * releases stay hidden.
 */
export const publiclyLifted = sql<boolean>`(r.lifted_at IS NOT NULL AND r.status IN ('sending', 'sent'))`;

export interface PublicRelease {
  id: number;
  /** Set at the lift, so always present on a lifted release. */
  slug: string;
  title: string;
  summary: string | null;
  body_md: string;
  embargo_at: Date;
  embargo_time_zone: string;
  lifted_at: Date;
  contact_name: string | null;
  contact_email: string | null;
  contact_phone: string | null;
  /** When it was last corrected after the lift (null if never). */
  corrected_at: Date | null;
}

const columns = [
  'r.id',
  'r.slug',
  'r.title',
  'r.summary',
  'r.body_md',
  'r.embargo_at',
  'r.embargo_time_zone',
  'r.lifted_at',
  'r.contact_name',
  'r.contact_email',
  'r.contact_phone',
  // The latest correction after the lift: the feed entry's updated time.
  sql<Date | null>`(SELECT max(c.created_at) FROM release_changes c WHERE c.release_id = r.id AND c.kind = 'correction')`.as(
    'corrected_at',
  ),
] as const;

/** Lifted releases, newest first. */
export async function liftedReleases(db: Db, limit: number): Promise<PublicRelease[]> {
  const rows = await db
    .selectFrom('releases as r')
    .select(columns)
    .where(publiclyLifted)
    .orderBy('r.embargo_at', 'desc')
    .limit(limit)
    .execute();
  return rows as PublicRelease[];
}

/**
 * Changes whenever what the newsroom shows may change: a lift, a release leaving the newsroom
 * (cancelled while sending), an edit of a lifted one. Pages built from the newsroom are kept until
 * it changes, so a flood of feed readers costs one small aggregate query each.
 */
export async function newsroomVersion(db: Db): Promise<string> {
  const { rows } = await sql<{ n: number; lifted: Date | null; updated: Date | null }>`
    SELECT count(*)::int AS n, max(r.lifted_at) AS lifted, max(r.updated_at) AS updated FROM releases r WHERE ${publiclyLifted}`.execute(
    db,
  );
  const { n, lifted, updated } = rows[0]!;
  return `${n}.${lifted?.getTime() ?? 0}.${updated?.getTime() ?? 0}`;
}

export async function liftedRelease(db: Db, slug: string): Promise<PublicRelease | null> {
  const row = await db
    .selectFrom('releases as r')
    .select(columns)
    .where('r.slug', '=', slug)
    .where(publiclyLifted)
    .executeTakeFirst();
  return (row as PublicRelease | undefined) ?? null;
}

/** A release's public slug, only once the public may see it (null before the lift, or when cancelled). */
export async function publicSlug(db: Db, releaseId: number): Promise<string | null> {
  const { rows } = await sql<{
    slug: string;
  }>`SELECT r.slug FROM releases r WHERE r.id = ${releaseId} AND ${publiclyLifted}`.execute(db);
  return rows[0]?.slug ?? null;
}
