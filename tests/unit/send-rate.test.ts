import { describe, expect, it } from 'vitest';
import { sendBatchSize, sendLimiter } from '../../src/queue/send-rate';

/** Messages a second the limiter allows when every job is a full batch. */
const messagesPerSecond = (config: { SEND_BATCH_SIZE: number; SEND_RATE_PER_SECOND: number }) => {
  const limiter = sendLimiter(config)!;
  return (sendBatchSize(config) * limiter.max * 1000) / limiter.duration;
};

describe('the global send rate', () => {
  it('is unlimited at 0, with batches of the configured size', () => {
    expect(sendLimiter({ SEND_BATCH_SIZE: 200, SEND_RATE_PER_SECOND: 0 })).toBeUndefined();
    expect(sendBatchSize({ SEND_BATCH_SIZE: 200, SEND_RATE_PER_SECOND: 0 })).toBe(200);
  });

  it.each([
    [200, 50], [200, 1000], [200, 200], [100, 3], [50, 1], [200, 5000], [200, 333],
  ])('with batches of %i holds %i messages a second, counting messages, not jobs', (batch, rate) => {
    const config = { SEND_BATCH_SIZE: batch, SEND_RATE_PER_SECOND: rate };
    expect(messagesPerSecond(config)).toBeLessThanOrEqual(rate);
    expect(messagesPerSecond(config)).toBeGreaterThan(rate * 0.99);
  });

  it('never lets one batch carry more than a second of the rate', () => {
    expect(sendBatchSize({ SEND_BATCH_SIZE: 200, SEND_RATE_PER_SECOND: 50 })).toBe(50);
    expect(sendBatchSize({ SEND_BATCH_SIZE: 200, SEND_RATE_PER_SECOND: 1000 })).toBe(200);
  });
});
