import type { Db } from '../db';

/**
 * Answers "has this release been cancelled?" for a send batch, asking PostgreSQL at most once per
 * interval however many messages ask, so a cancellation stops a batch within about that interval
 * at the cost of a few cheap queries. Cancelled is final, so once seen it is never asked again.
 * A failed check counts as not cancelled: the batch goes on, and the next check asks again.
 */
export function cancellationWatch(db: Db, releaseId: number, intervalMs = 250): () => Promise<boolean> {
  let askedAt = -Infinity;
  let answer: Promise<boolean> = Promise.resolve(false);
  return () => {
    const now = performance.now();
    if (now - askedAt >= intervalMs) {
      askedAt = now;
      answer = answer.then((seen) =>
        seen ||
        db
          .selectFrom('releases')
          .select('status')
          .where('id', '=', releaseId)
          .executeTakeFirst()
          .then((row) => row?.status === 'cancelled', () => false),
      );
    }
    return answer;
  };
}
