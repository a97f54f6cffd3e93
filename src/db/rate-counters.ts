import { sql } from 'kysely';
import type { Db } from './index.js';

export interface WindowCount {
  hits: number;
  /** Seconds until the window ends and the count starts again. */
  secondsLeft: number;
}

/**
 * Counts one hit of `key` in its window and returns the count so far. A window opens at the
 * key's first hit and lasts `windowSeconds` by PostgreSQL's clock (a burst cannot straddle two
 * windows for twice the limit). One upsert: concurrent hits from any number of processes all
 * count. PostgreSQL, not Redis, because these throttles (sign-in, test sends, confirmation emails)
 * must hold when Redis is unreachable.
 */
export async function countHit(db: Db, key: string, windowSeconds: number): Promise<WindowCount> {
  const { rows } = await sql<WindowCount>`
    INSERT INTO rate_counters AS c (key, window_start, hits) VALUES (${key}, now(), 1)
    ON CONFLICT (key) DO UPDATE SET
      hits = CASE WHEN c.window_start <= now() - make_interval(secs => ${windowSeconds}) THEN 1 ELSE c.hits + 1 END,
      window_start = CASE WHEN c.window_start <= now() - make_interval(secs => ${windowSeconds}) THEN now() ELSE c.window_start END
    RETURNING hits, ceil(extract(epoch FROM window_start + make_interval(secs => ${windowSeconds}) - now()))::int AS "secondsLeft"`.execute(
    db,
  );
  return rows[0]!;
}

/** The hits of `key` in its current window, without counting one. */
export async function hitsNow(db: Db, key: string, windowSeconds: number): Promise<WindowCount> {
  const { rows } = await sql<WindowCount>`
    SELECT hits, ceil(extract(epoch FROM window_start + make_interval(secs => ${windowSeconds}) - now()))::int AS "secondsLeft"
    FROM rate_counters WHERE key = ${key} AND window_start > now() - make_interval(secs => ${windowSeconds})`.execute(
    db,
  );
  return rows[0] ?? { hits: 0, secondsLeft: 0 };
}

/** Forgets the count of `key` (a successful sign-in clears its account's failures). */
export async function clearHits(db: Db, key: string): Promise<void> {
  await db.deleteFrom('rate_counters').where('key', '=', key).execute();
}

/** Drops windows that opened over a day ago; the longest throttle window is a day. */
export async function sweepRateCounters(db: Db): Promise<void> {
  await db
    .deleteFrom('rate_counters')
    .where('window_start', '<', sql<Date>`now() - interval '1 day'`)
    .execute();
}
