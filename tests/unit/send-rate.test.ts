import { describe, expect, it } from 'vitest';
import { sendBatchSize } from '../../src/queue/send-rate.js';

// The rate itself is kept per message by the pacer: tests/integration/pacing.test.ts and pacing-send.test.ts.
describe('the global send rate', () => {
  it('leaves batches at the configured size when unlimited', () => {
    expect(sendBatchSize({ SEND_BATCH_SIZE: 200, SEND_RATE_PER_SECOND: 0 })).toBe(200);
  });

  it('never lets one batch carry more than a second of the rate', () => {
    expect(sendBatchSize({ SEND_BATCH_SIZE: 200, SEND_RATE_PER_SECOND: 50 })).toBe(50);
    expect(sendBatchSize({ SEND_BATCH_SIZE: 200, SEND_RATE_PER_SECOND: 1000 })).toBe(200);
  });
});
