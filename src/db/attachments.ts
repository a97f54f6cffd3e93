import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from './index.js';
import { publiclyLifted } from './newsroom.js';

export interface NewAttachment {
  filename: string;
  contentType: string;
  data: Buffer;
}

export type AttachmentSummary = { id: number; filename: string; contentType: string; size: number };

/**
 * Where a file is served; the newsroom answers 404 for it until the release is lifted, unless the
 * URL carries a recipient's own file key, as the links in advance copies do (src/db/file-access.ts). A keyed link names
 * the
 * file by id only, so nothing in it (no slug, no file name) carries words of an embargoed release
 * into request logs or proxies; the file name comes back in Content-Disposition.
 */
export function attachmentUrl(publicUrl: string, id: number, filename: string, accessKey?: string): string {
  return accessKey
    ? `${publicUrl}/files/${id}?key=${accessKey}`
    : `${publicUrl}/files/${id}/${encodeURIComponent(filename)}`;
}

/** Stores a file of a release (the lifecycle makes the new version that carries it, see src/releases/lifecycle.ts). */
export async function insertAttachment(db: Db, releaseId: number, file: NewAttachment): Promise<AttachmentSummary> {
  const row = await db
    .insertInto('release_attachments')
    .values({
      release_id: releaseId,
      filename: file.filename,
      content_type: file.contentType,
      size: file.data.length,
      data: file.data,
      access_key: randomBytes(16).toString('base64url'),
    })
    .returning(['id', 'filename', 'content_type', 'size'])
    .executeTakeFirstOrThrow();
  return { id: row.id, filename: row.filename, contentType: row.content_type, size: row.size };
}

export async function listAttachments(
  db: Db,
  releaseId: number,
): Promise<Array<AttachmentSummary & { accessKey: string }>> {
  const rows = await db
    .selectFrom('release_attachments')
    .select(['id', 'filename', 'content_type', 'size', 'access_key'])
    .where('release_id', '=', releaseId)
    .orderBy('id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    filename: r.filename,
    contentType: r.content_type,
    size: r.size,
    accessKey: r.access_key,
  }));
}

/**
 * The links an email shows for a release's files. An advance copy's links carry `key`, the
 * recipient's own file key (a slot the send fills in per recipient), so they work before the lift.
 */
export async function attachmentLinks(db: Db, releaseId: number, publicUrl: string, key?: string) {
  const files = await listAttachments(db, releaseId);
  return files.map((f) => ({
    filename: f.filename,
    size: f.size,
    url: attachmentUrl(publicUrl, f.id, f.filename, key),
  }));
}

/**
 * A file of a lifted release; otherwise null — the same null for an embargoed release as for no
 * file at all. (Before the lift a file opens only with a recipient's key, see keyedAttachment; the
 * shared access_key of each file is no longer accepted: it could not say whose copy leaked.) Its
 * name, type and size only: the bytes come from attachmentChunks.
 */
export async function publicAttachment(db: Db, id: number) {
  const row = await db
    .selectFrom('release_attachments as a')
    .innerJoin('releases as r', 'r.id', 'a.release_id')
    .select(['a.id', 'a.filename', 'a.content_type', 'a.size'])
    .where('a.id', '=', id)
    .where(publiclyLifted)
    .executeTakeFirst();
  return row ?? null;
}

/** Bytes a download reads from PostgreSQL at a time. */
export const ATTACHMENT_CHUNK_BYTES = 256 * 1024;

/**
 * A file's bytes in slices, one substring() query each, so a download holds at most one slice in
 * memory however large the file and however many are downloading. The column is stored
 * uncompressed (migration 007), so PostgreSQL reads each slice without decompressing the value.
 */
export async function* attachmentChunks(
  db: Db,
  id: number,
  size: number,
  chunkBytes = ATTACHMENT_CHUNK_BYTES,
): AsyncGenerator<Buffer> {
  for (let offset = 0; offset < size; offset += chunkBytes) {
    const { rows } = await sql<{ chunk: Buffer }>`
      SELECT substring(data FROM ${offset + 1} FOR ${chunkBytes}) AS chunk FROM release_attachments WHERE id = ${id}`.execute(
      db,
    );
    const chunk = rows[0]?.chunk;
    if (!chunk || chunk.length === 0) return;
    yield chunk;
  }
}
