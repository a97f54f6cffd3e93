import type { Db } from '../db';
import { sendingPaused } from '../ops/pause';

/** Why a send batch stops before its next message: the release was cancelled, or an operator paused all sending. */
export type Halt = 'cancelled' | 'paused' | null;

/**
 * Answers "should this batch stop?", asking PostgreSQL at most once per interval however many
 * messages ask, so a cancellation or an emergency stop halts a running batch within about that
 * interval at the cost of a few cheap queries. Once a reason is seen it stands for the rest of the
 * batch. A failed check counts as "go on": the batch continues, and the next check asks again.
 */
export function haltWatch(db: Db, releaseId: number, intervalMs = 250): () => Promise<Halt> {
  let askedAt = -Infinity;
  let answer: Promise<Halt> = Promise.resolve(null);
  const ask = async (): Promise<Halt> => {
    const [release, paused] = await Promise.all([
      db.selectFrom('releases').select('status').where('id', '=', releaseId).executeTakeFirst(),
      sendingPaused(db),
    ]);
    if (release?.status === 'cancelled') return 'cancelled';
    return paused ? 'paused' : null;
  };
  return () => {
    const now = performance.now();
    if (now - askedAt >= intervalMs) {
      askedAt = now;
      answer = answer.then((seen) => seen ?? ask().catch(() => null));
    }
    return answer;
  };
}
