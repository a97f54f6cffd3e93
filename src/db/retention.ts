import { sql } from 'kysely';
import type { Db } from './index.js';

/**
 * Finished releases whose deliveries are due for pruning: sent or cancelled more than `days` ago
 * (by when they ended, or their send instant if they never did), not pruned yet.
 */
export async function releasesToPrune(db: Db, days: number): Promise<number[]> {
  const { rows } = await sql<{ id: number }>`
    SELECT id FROM releases
    WHERE status IN ('sent', 'cancelled') AND deliveries_pruned_at IS NULL
      AND coalesce(completed_at, cancelled_at, send_at) < now() - make_interval(days => ${days})
    ORDER BY id`.execute(db);
  return rows.map((r) => r.id);
}

/**
 * Keeps a release's counts by state on the release, once: a later pass (after a crash half-way
 * through the deletes) must not overwrite them with the counts of what is left.
 */
export async function keepDeliveryCounts(db: Db, releaseId: number): Promise<void> {
  await sql`
    UPDATE releases r SET delivery_counts = (
      SELECT jsonb_build_object('queued', count(*) FILTER (WHERE state = 'queued'), 'sending', count(*) FILTER (WHERE state = 'sending'),
        'sent', count(*) FILTER (WHERE state = 'sent'), 'bounced', count(*) FILTER (WHERE state = 'bounced'), 'failed', count(*) FILTER (WHERE state = 'failed'),
        'skipped', count(*) FILTER (WHERE state = 'skipped'), 'cancelled', count(*) FILTER (WHERE state = 'cancelled'))
      FROM deliveries d WHERE d.release_id = r.id)
    WHERE r.id = ${releaseId} AND r.delivery_counts IS NULL`.execute(db);
}

/**
 * Deletes up to `batch` of a release's delivery rows, in one short statement of its own: each batch
 * locks only its rows, for milliseconds, so sending and reports carry on around a long prune.
 */
export async function deleteDeliveryBatch(db: Db, releaseId: number, batch: number): Promise<number> {
  const result = await sql`
    DELETE FROM deliveries WHERE id IN (SELECT id FROM deliveries WHERE release_id = ${releaseId} ORDER BY id LIMIT ${batch})`.execute(
    db,
  );
  return Number(result.numAffectedRows ?? 0);
}

export async function markDeliveriesPruned(db: Db, releaseId: number): Promise<void> {
  await db
    .updateTable('releases')
    .set({ deliveries_pruned_at: sql`now()` })
    .where('id', '=', releaseId)
    .execute();
}

/**
 * Expired console sessions, API tokens revoked more than `revokedDays` ago, and webhook events and
 * alerts older than `operationsDays`; the audit log is kept whole.
 */
export async function purgeExpired(
  db: Db,
  revokedDays: number,
  operationsDays: number,
): Promise<Record<string, number>> {
  const count = (result: { numAffectedRows?: bigint }) => Number(result.numAffectedRows ?? 0);
  return {
    sessions: count(await sql`DELETE FROM sessions WHERE expires_at < now()`.execute(db)),
    revokedTokens: count(
      await sql`DELETE FROM api_tokens WHERE revoked_at < now() - make_interval(days => ${revokedDays})`.execute(db),
    ),
    events: count(
      await sql`
      DELETE FROM events e WHERE e.created_at < now() - make_interval(days => ${operationsDays})
        AND NOT EXISTS (SELECT 1 FROM webhook_deliveries w WHERE w.event_id = e.id AND w.state = 'pending')`.execute(
        db,
      ),
    ),
    alerts: count(
      await sql`DELETE FROM alerts WHERE raised_at < now() - make_interval(days => ${operationsDays}) AND state <> 'pending'`.execute(
        db,
      ),
    ),
  };
}
