import { sql, type Selectable } from 'kysely';
import type { Db } from './index.js';
import type { RelayHealthTable } from './schema.js';

/**
 * The relay's health as all workers see it, by PostgreSQL's clock. An acceptance ends a run of
 * refusals; a refusal starts one unless one is running. Workers call these at most once a second each.
 */
export async function noteRelayAccepted(db: Db): Promise<void> {
  await sql`UPDATE relay_health SET last_accepted_at = now(), refusing_since = NULL`.execute(db);
}

export async function noteRelayRefused(db: Db, reply: string): Promise<void> {
  await sql`UPDATE relay_health SET last_refused_at = now(), refusing_since = coalesce(refusing_since, now()), last_reply = ${reply.slice(0, 200)}`.execute(
    db,
  );
}

export type RelayHealth = Selectable<RelayHealthTable>;

export async function relayHealth(db: Db): Promise<RelayHealth> {
  return db.selectFrom('relay_health').selectAll().executeTakeFirstOrThrow();
}
