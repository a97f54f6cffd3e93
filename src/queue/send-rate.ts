import type { Config } from '../config';

/**
 * BullMQ's limiter counts jobs, and a send job is a batch of messages. So a global rate of R
 * messages a second becomes one batch per (batch size / R) seconds, across all workers; and a batch
 * holds at most R messages, so the slowest rate still spreads over the seconds instead of leaving
 * in one burst of a full batch.
 */
export function sendBatchSize(config: Pick<Config, 'SEND_BATCH_SIZE' | 'SEND_RATE_PER_SECOND'>): number {
  const rate = config.SEND_RATE_PER_SECOND;
  return rate > 0 ? Math.min(config.SEND_BATCH_SIZE, rate) : config.SEND_BATCH_SIZE;
}

/** The BullMQ limiter that holds every worker together to SEND_RATE_PER_SECOND; undefined when unlimited. */
export function sendLimiter(config: Pick<Config, 'SEND_BATCH_SIZE' | 'SEND_RATE_PER_SECOND'>): { max: number; duration: number } | undefined {
  const rate = config.SEND_RATE_PER_SECOND;
  if (rate <= 0) return undefined;
  return { max: 1, duration: Math.ceil((sendBatchSize(config) * 1000) / rate) };
}
