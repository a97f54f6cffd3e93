import type { Config } from '../config.js';

/**
 * The global rate is kept per message by the pacer (src/queue/pacing.ts); a batch still holds at
 * most one second of it, so its rows are not claimed (and leased) long before their turn.
 */
export function sendBatchSize(config: Pick<Config, 'SEND_BATCH_SIZE' | 'SEND_RATE_PER_SECOND'>): number {
  const rate = config.SEND_RATE_PER_SECOND;
  return rate > 0 ? Math.min(config.SEND_BATCH_SIZE, rate) : config.SEND_BATCH_SIZE;
}
