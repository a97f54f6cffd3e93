import { afterAll, beforeAll } from 'vitest';
import { createHarness, type Harness } from './harness.js';
import { startSmtp, type TestSmtp } from './smtp.js';

export interface SmtpHarness {
  h: Harness;
  smtp: TestSmtp;
}

/**
 * A harness with running workers that send to a test SMTP server, set up once for the calling
 * test file (beforeAll) and torn down after it. Its fields are filled in before the first test.
 */
export function useSmtpHarness(overrides: Record<string, string> = {}): SmtpHarness {
  const setup = {} as SmtpHarness;
  beforeAll(async () => {
    setup.smtp = await startSmtp();
    setup.h = await createHarness({ SMTP_URL: setup.smtp.url, ...overrides });
    await setup.h.startWorkers();
  });
  afterAll(async () => {
    await setup.h?.close();
    await setup.smtp?.close();
  });
  return setup;
}
