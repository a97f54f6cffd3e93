import { sql } from 'kysely';
import type { Db } from './index.js';
import type { Selectable } from 'kysely';
import type { ReconcileStateTable } from './schema.js';

/** One advisory-lock key per database: each installation (and each test database) has its own leader. */
const LEADER_LOCK = sql`hashtext('presslift:reconcile')`;

/**
 * Runs `sweep` as the one reconcile leader, or returns `{ led: false }` at once when another process
 * leads now. The lock is a transaction-level advisory lock held by an otherwise idle transaction:
 * it ends with the transaction (or with a dead process's connection), and unlike a session lock it
 * works through PgBouncer in transaction mode, which may hand each transaction another server
 * connection. The sweep itself runs on other pool connections.
 */
export async function asLeader<T>(db: Db, sweep: () => Promise<T>): Promise<{ led: true; value: T } | { led: false }> {
  return db.transaction().execute(async (tx) => {
    const { rows } = await sql<{ leader: boolean }>`SELECT pg_try_advisory_xact_lock(${LEADER_LOCK}) AS leader`.execute(
      tx,
    );
    if (!rows[0]!.leader) return { led: false as const };
    return { led: true as const, value: await sweep() };
  });
}

export type ReconcileState = Selectable<ReconcileStateTable>;

export async function reconcileState(db: Db): Promise<ReconcileState> {
  return db.selectFrom('reconcile_state').selectAll().executeTakeFirstOrThrow();
}

/** A finished sweep: what it found, and what it restored added to the running totals. */
export async function recordSweep(
  db: Db,
  found: { deliveriesWithoutJob: number; restoredLiftJobs: number; restoredSendJobs: number },
): Promise<void> {
  await sql`
    UPDATE reconcile_state SET last_success_at = now(), last_error = NULL, deliveries_without_job = ${found.deliveriesWithoutJob},
      restored_lift_jobs_total = restored_lift_jobs_total + ${found.restoredLiftJobs},
      restored_send_jobs_total = restored_send_jobs_total + ${found.restoredSendJobs}`.execute(db);
}

export async function recordSweepFailure(db: Db, error: string): Promise<void> {
  await db
    .updateTable('reconcile_state')
    .set({ last_failure_at: sql`now()`, last_error: error })
    .execute();
}

/** Claims the periodic retention run: true for at most one sweep per interval. */
export async function claimRetentionRun(db: Db, everySeconds: number): Promise<boolean> {
  const result = await sql`
    UPDATE reconcile_state SET last_retention_at = now()
    WHERE last_retention_at IS NULL OR last_retention_at < now() - make_interval(secs => ${everySeconds})`.execute(db);
  return Number(result.numAffectedRows ?? 0) > 0;
}
