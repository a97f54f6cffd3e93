import { sql } from 'kysely';
import type { Db } from './index.js';
import { publiclyLifted } from './newsroom.js';

/**
 * Per-recipient file keys and their use (leak attribution). An advance copy's file links carry a
 * key sealed for that copy's delivery (src/mail/file-key.ts); the key opens the files of that
 * release only while the copy's keys are not revoked and the release is not cancelled. Each use is
 * recorded with who the key was made for, so staff can see whose copy a leaked file came from.
 */

export interface KeyedFile {
  id: number;
  filename: string;
  content_type: string;
  size: number;
  release_id: number;
  subscriber_id: number;
  /** The release is not yet public: this use is one "before the lift". */
  before_lift: boolean;
}

/**
 * A file opened with the key of a delivery: found only when the delivery is an advance copy of the
 * file's release (or a corrected copy sent under embargo, whose links carry their own keys), handed to the relay (or in
 * its hands), its keys not revoked, and the release not
 * cancelled. Otherwise null, the same null as for a file that does not exist.
 */
export async function keyedAttachment(db: Db, fileId: number, deliveryId: number): Promise<KeyedFile | null> {
  const { rows } = await sql<KeyedFile>`
    SELECT a.id, a.filename, a.content_type, a.size, a.release_id, d.subscriber_id, NOT ${publiclyLifted} AS before_lift
    FROM release_attachments a
    JOIN releases r ON r.id = a.release_id AND r.status <> 'cancelled'
    JOIN deliveries d ON d.id = ${deliveryId} AND d.release_id = a.release_id AND d.phase IN ('advance', 'notice')
      AND d.state IN ('sending', 'sent', 'bounced') AND d.files_revoked_at IS NULL
    WHERE a.id = ${fileId}`.execute(db);
  return rows[0] ?? null;
}

export async function recordFileAccess(
  db: Db,
  use: { file: KeyedFile; deliveryId: number; ip: string | null; userAgent: string | null },
): Promise<void> {
  await db
    .insertInto('file_access')
    .values({
      release_id: use.file.release_id,
      attachment_id: use.file.id,
      delivery_id: use.deliveryId,
      subscriber_id: use.file.subscriber_id,
      ip: use.ip,
      user_agent: use.userAgent?.slice(0, 500) ?? null,
      before_lift: use.file.before_lift,
    })
    .execute();
}

export interface FileAccessEntry {
  at: string;
  file: string;
  email: string;
  name: string | null;
  outlet: string | null;
  ip: string | null;
  userAgent: string | null;
  beforeLift: boolean;
}

/** Who opened which file of a release with their key, oldest first (the report's "who opened what before the lift"). */
export async function releaseFileAccess(db: Db, releaseId: number, limit = 1000): Promise<FileAccessEntry[]> {
  const rows = await db
    .selectFrom('file_access as u')
    .innerJoin('release_attachments as a', 'a.id', 'u.attachment_id')
    .innerJoin('subscribers as s', 's.id', 'u.subscriber_id')
    .select(['u.at', 'a.filename', 's.email', 's.name', 's.outlet', 'u.ip', 'u.user_agent', 'u.before_lift'])
    .where('u.release_id', '=', releaseId)
    .orderBy('u.id')
    .limit(limit)
    .execute();
  return rows.map((r) => ({
    at: r.at.toISOString(),
    file: r.filename,
    email: r.email,
    name: r.name,
    outlet: r.outlet,
    ip: r.ip,
    userAgent: r.user_agent,
    beforeLift: r.before_lift,
  }));
}
