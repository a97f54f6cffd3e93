import type { Queue } from 'bullmq';
import type { Config } from '../config.js';
import type { SendJob } from './index.js';
import { sendBatchSize } from './send-rate.js';

const BULK_LIMIT = 1000;
/** BullMQ's lowest priority. */
const LOWEST_PRIORITY = 2_097_152;

/**
 * Send jobs for deliveries, a batch of ids a job.
 *
 * `turn` numbers the jobs of a release's fan-out (its first job is turn 1, and each chunk passes
 * on where it ended): the turn is the job's BullMQ priority, so when many releases lift at one
 * instant the send workers take every release's first batch, then every release's second, and so
 * on — round robin across releases instead of first come, first served. Jobs without a turn
 * (retries, hand-backs, reconcile) have no priority, and BullMQ takes those first.
 */
export function sendJobs(
  config: Config,
  releaseId: number,
  deliveryIds: number[],
  options: { delayMs?: number; turn?: number } = {},
) {
  const jobs = [];
  const batchSize = sendBatchSize(config);
  for (let i = 0; i < deliveryIds.length; i += batchSize) {
    jobs.push({
      name: 'send',
      data: { releaseId, deliveryIds: deliveryIds.slice(i, i + batchSize) },
      opts: {
        ...(options.delayMs ? { delay: options.delayMs } : {}),
        ...(options.turn ? { priority: Math.min(options.turn + jobs.length, LOWEST_PRIORITY) } : {}),
        attempts: config.SEND_ATTEMPTS,
        backoff: { type: 'exponential', delay: config.SEND_BACKOFF_MS },
        removeOnComplete: { count: 1000 },
        removeOnFail: { age: 7 * 86_400 },
      },
    });
  }
  return jobs;
}

/**
 * Queues send jobs, in addBulk calls of at most 1,000 jobs. A duplicate job is harmless: the
 * worker claims rows atomically and finds nothing left to do.
 */
export async function addSendJobs(queue: Queue<SendJob>, jobs: ReturnType<typeof sendJobs>): Promise<number> {
  for (let i = 0; i < jobs.length; i += BULK_LIMIT) await queue.addBulk(jobs.slice(i, i + BULK_LIMIT));
  return jobs.length;
}

/** Queues send jobs for one release's deliveries (see sendJobs). */
export const enqueueSends = (
  queue: Queue<SendJob>,
  config: Config,
  releaseId: number,
  deliveryIds: number[],
  options: { delayMs?: number; turn?: number } = {},
) => addSendJobs(queue, sendJobs(config, releaseId, deliveryIds, options));
