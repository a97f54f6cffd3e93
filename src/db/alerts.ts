import { sql, type Selectable } from 'kysely';
import type { Db } from './index.js';
import type { AlertsTable } from './schema.js';

export type Alert = Selectable<AlertsTable>;

export interface NewAlert {
  /** Names the event: the same key twice is the same event, and raises nothing the second time. */
  key: string;
  kind: string;
  releaseId: number | null;
  /** One line with ids and counts only (invariant "embargoed text stays home"). */
  summary: string;
  details?: Record<string, unknown>;
}

/** Records an alert unless its event was already alerted; true when it is new. */
export async function raiseAlert(db: Db, alert: NewAlert): Promise<boolean> {
  const row = await db
    .insertInto('alerts')
    .values({
      key: alert.key,
      kind: alert.kind,
      release_id: alert.releaseId,
      summary: alert.summary,
      details: JSON.stringify(alert.details ?? {}),
    })
    .onConflict((oc) => oc.column('key').doNothing())
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

/** Alerts due to be sent now, oldest first (served by alerts_pending). */
export async function dueAlerts(db: Db, limit = 100): Promise<Alert[]> {
  return db
    .selectFrom('alerts')
    .selectAll()
    .where('state', '=', 'pending')
    .where('next_attempt_at', '<=', sql<Date>`now()`)
    .orderBy('id')
    .limit(limit)
    .execute();
}

/** How many alerts went out in the last hour: the rate limit counts them. */
export async function alertsSentLastHour(db: Db): Promise<number> {
  const { rows } = await sql<{
    n: number;
  }>`SELECT count(*)::int AS n FROM alerts WHERE sent_at > now() - interval '1 hour'`.execute(db);
  return rows[0]!.n;
}

export async function noteAlertChannelSent(db: Db, id: number, channel: 'email' | 'webhook'): Promise<void> {
  await db
    .updateTable('alerts')
    .set(channel === 'email' ? { email_sent_at: sql`now()` } : { webhook_sent_at: sql`now()` })
    .where('id', '=', id)
    .execute();
}

export async function markAlertSent(db: Db, id: number): Promise<void> {
  await db
    .updateTable('alerts')
    .set({ state: 'sent', sent_at: sql`now()`, last_error: null })
    .where('id', '=', id)
    .where('state', '=', 'pending')
    .execute();
}

/**
 * A channel failed: try again after a backoff that doubles, up to `maxAttempts`, then give up (the console shows why).
 */
export async function markAlertRetry(db: Db, id: number, error: string, maxAttempts: number): Promise<void> {
  await sql`
    UPDATE alerts SET attempts = attempts + 1, last_error = ${error},
      state = CASE WHEN attempts + 1 >= ${maxAttempts} THEN 'failed' ELSE state END,
      next_attempt_at = now() + make_interval(secs => least(3600, 15 * power(2, attempts)))
    WHERE id = ${id} AND state = 'pending'`.execute(db);
}

/** Over the hourly limit: held, to be counted in a digest. */
export async function holdAlerts(db: Db, ids: number[]): Promise<void> {
  if (ids.length === 0) return;
  await db.updateTable('alerts').set({ state: 'held' }).where('id', 'in', ids).where('state', '=', 'pending').execute();
}

/** Held alerts not yet counted in a digest, marked counted in the same statement. */
export async function takeHeldForDigest(db: Db): Promise<Array<{ id: number; kind: string }>> {
  const { rows } = await sql<{ id: number; kind: string }>`
    UPDATE alerts SET digested = true WHERE state = 'held' AND NOT digested RETURNING id, kind`.execute(db);
  return rows;
}

export async function recentAlerts(db: Db, limit = 50): Promise<Alert[]> {
  return db.selectFrom('alerts').selectAll().orderBy('id', 'desc').limit(limit).execute();
}

/** Alerts by state, for /metrics. */
export async function alertCounts(db: Db): Promise<Array<{ key: string; n: number }>> {
  return db
    .selectFrom('alerts')
    .select(['state as key', (eb) => eb.fn.countAll<number>().as('n')])
    .groupBy('state')
    .execute();
}
