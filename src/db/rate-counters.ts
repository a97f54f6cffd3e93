import { sql } from 'kysely';
import type { Db } from './index';

/**
 * Counts one hit of `key` in the current fixed window of `windowSeconds` (aligned to PostgreSQL's
 * clock) and returns the window's count so far. One upsert: concurrent hits from any number of
 * processes all count. PostgreSQL, not Redis, because these throttles (sign-in, test sends,
 * confirmation emails) must hold when Redis is unreachable.
 */
export async function countHit(db: Db, key: string, windowSeconds: number, weight = 1): Promise<number> {
  const { rows } = await sql<{ hits: number }>`
    INSERT INTO rate_counters (key, window_start, hits)
    VALUES (${key}, to_timestamp(floor(extract(epoch FROM now()) / ${windowSeconds}) * ${windowSeconds}), ${weight})
    ON CONFLICT (key, window_start) DO UPDATE SET hits = rate_counters.hits + excluded.hits
    RETURNING hits`.execute(db);
  return rows[0]!.hits;
}

/** The hits of `key` in the current window, without counting one. */
export async function hitsNow(db: Db, key: string, windowSeconds: number): Promise<number> {
  const { rows } = await sql<{ hits: number }>`
    SELECT hits FROM rate_counters
    WHERE key = ${key} AND window_start = to_timestamp(floor(extract(epoch FROM now()) / ${windowSeconds}) * ${windowSeconds})`.execute(db);
  return rows[0]?.hits ?? 0;
}

/** Forgets the counts of `key` (a successful sign-in clears its account's failures). */
export async function clearHits(db: Db, key: string): Promise<void> {
  await db.deleteFrom('rate_counters').where('key', '=', key).execute();
}

/** Drops windows older than a day; the longest throttle window is a day. */
export async function sweepRateCounters(db: Db): Promise<void> {
  await db.deleteFrom('rate_counters').where('window_start', '<', sql<Date>`now() - interval '1 day'`).execute();
}
