import type { Db } from './index.js';
import type { Kysely, Transaction } from 'kysely';
import type { Database, Release } from './schema.js';

export interface AuditEntry {
  releaseId: number | null;
  actor: string;
  action: string;
  details?: Record<string, unknown>;
}

export async function recordAudit(db: Db | Transaction<Database> | Kysely<Database>, entry: AuditEntry): Promise<void> {
  await db
    .insertInto('audit')
    .values({
      release_id: entry.releaseId,
      actor: entry.actor,
      action: entry.action,
      details: JSON.stringify(entry.details ?? {}),
    })
    .execute();
}

/** The embargo before and after a change, as every lifecycle entry records it (before is null at creation). */
export function embargoAudit(before: Release | null, after: Release) {
  return {
    embargoBefore: before?.embargo_at.toISOString() ?? null,
    embargoAfter: after.embargo_at.toISOString(),
    timeZone: after.embargo_time_zone,
    sendAt: after.send_at.toISOString(),
    version: after.version,
  };
}

export async function releaseAudit(db: Db, releaseId: number) {
  const rows = await db.selectFrom('audit').selectAll().where('release_id', '=', releaseId).orderBy('id').execute();
  return rows.map((row) => ({
    id: row.id,
    at: row.at.toISOString(),
    actor: row.actor,
    action: row.action,
    details: row.details,
  }));
}
