import type { Queue } from 'bullmq';
import type { Queues } from '../../src/queue/index.js';
import type { RedisClient } from '../../src/queue/redis.js';
import { waitUntil } from './harness.js';

/**
 * Waits for the queue work that makes an absence check meaningful, instead of sleeping a window
 * that a loaded machine can make too short (and then the check passes without having checked).
 */

/** BullMQ keeps a delayed job under the score (instant in ms) × 0x1000 + a counter. */
const DELAYED_SCORE_FACTOR = 0x1000;

/**
 * Jobs the queues still have to run before `dueBy`: waiting, prioritized, active, in a paused
 * queue's legacy list, or delayed to an instant at or before `dueBy` (a delayed job past its
 * instant is still there until a worker promotes it). Read in one MULTI over every queue (their
 * keys share the prefix's hash tag), so a job moving between lists, or a lift job queuing the send
 * jobs it made, is never missed between two reads.
 */
async function unfinished(redis: RedisClient, queues: Queue[], dueBy: number): Promise<number> {
  const multi = redis.multi();
  for (const queue of queues) {
    const k = queue.keys;
    multi
      .llen(k.wait!)
      .llen(k.paused!)
      .llen(k.active!)
      .zcard(k.prioritized!)
      .zcount(k.delayed!, '-inf', (dueBy + 1) * DELAYED_SCORE_FACTOR - 1);
  }
  const replies = (await multi.exec()) ?? [];
  let count = 0;
  for (const [error, value] of replies) {
    if (error) throw error;
    count += Number(value);
  }
  return count;
}

/**
 * Waits until the lift and send queues have run everything due at or before
 * `dueBy` and hold nothing waiting or active: a stale lift job that was going to fire by then has
 * fired and finished, and so has every send job it or anything else queued. After this, a message
 * that was going to be sent has reached the SMTP server (a send job finishes only once the relay
 * answered), and the rows are as the workers leave them.
 */
export async function queuesSettled(
  ctx: { redis: RedisClient; queues: Pick<Queues, 'lift' | 'send'> },
  dueBy: Date | number = Date.now(),
  timeoutMs = 30_000,
): Promise<void> {
  const queues = [ctx.queues.lift, ctx.queues.send] as Queue[];
  const instant = typeof dueBy === 'number' ? dueBy : dueBy.getTime();
  await waitUntil(
    async () => (await unfinished(ctx.redis, queues, instant)) === 0,
    timeoutMs,
    `the queues to run everything due by ${new Date(instant).toISOString()}`,
  );
}

/** A job's state once nothing more will come of it (`unknown`: removed, or its record gone). */
const FINAL = new Set(['completed', 'failed', 'unknown']);

/**
 * Waits until each job has finished (completed or failed) or is no longer in the queue (removed):
 * a job that was going to fire has fired and done what it does. Returns the states seen.
 */
export async function jobsFinished(queue: Queue, ids: string[], timeoutMs = 30_000): Promise<Record<string, string>> {
  return waitUntil(
    async () => {
      const states = await Promise.all(ids.map(async (id) => [id, await queue.getJobState(id)] as const));
      return states.every(([, state]) => FINAL.has(state)) && Object.fromEntries(states);
    },
    timeoutMs,
    `jobs ${ids.join(', ')} to finish`,
  );
}

/** Waits until wall-clock time is past an instant: for a test that must act after it, not for an absence check. */
export async function instantPassed(instant: Date | number): Promise<void> {
  const at = typeof instant === 'number' ? instant : instant.getTime();
  while (Date.now() <= at) await new Promise((resolve) => setTimeout(resolve, at - Date.now() + 1));
}
