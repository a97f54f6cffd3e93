import type { Queue } from 'bullmq';
import type { Config } from '../config';
import type { SendJob } from './index';
import { sendBatchSize } from './send-rate';

const BULK_LIMIT = 1000;

/**
 * Queues send jobs for deliveries, a batch of ids a job, in addBulk calls of at most 1,000 jobs.
 * A duplicate job is harmless: the worker claims rows atomically and finds nothing left to do.
 */
export async function enqueueSends(
  queue: Queue<SendJob>, config: Config, releaseId: number, deliveryIds: number[], options: { delayMs?: number } = {},
): Promise<number> {
  const jobs = [];
  const batchSize = sendBatchSize(config);
  for (let i = 0; i < deliveryIds.length; i += batchSize) {
    jobs.push({
      name: 'send',
      data: { releaseId, deliveryIds: deliveryIds.slice(i, i + batchSize) },
      opts: {
        ...(options.delayMs ? { delay: options.delayMs } : {}),
        attempts: config.SEND_ATTEMPTS,
        backoff: { type: 'exponential', delay: config.SEND_BACKOFF_MS },
        removeOnComplete: { count: 1000 },
        removeOnFail: { age: 7 * 86_400 },
      },
    });
  }
  for (let i = 0; i < jobs.length; i += BULK_LIMIT) await queue.addBulk(jobs.slice(i, i + BULK_LIMIT));
  return jobs.length;
}
