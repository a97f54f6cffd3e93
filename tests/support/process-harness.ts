import { afterAll, afterEach, beforeAll } from 'vitest';
import { createHarness, type Harness } from './harness.js';
import { killProcess, startWorkerProcess, type PressliftProcess } from './processes.js';
import { startSmtp, type TestSmtp } from './smtp.js';

export interface ProcessHarness {
  h: Harness;
  smtp: TestSmtp;
  /** Starts a `presslift worker` process against this harness and the SMTP server; killed after the test. */
  worker(env?: Record<string, string>): Promise<PressliftProcess>;
}

/**
 * A harness whose workers are real processes (`presslift worker`), so clocks, restarts and stalls
 * are those of a process, set up once for the calling test file. After each test its worker
 * processes are killed and the SMTP server forgets its messages and behaviours.
 */
export function useProcessHarness(): ProcessHarness {
  let running: PressliftProcess[] = [];
  const setup: ProcessHarness = {
    h: undefined as unknown as Harness,
    smtp: undefined as unknown as TestSmtp,
    async worker(env = {}) {
      // A loaded machine (2 cores shared by several suites) can take well over 15 s to start the CLI.
      const started = await startWorkerProcess(
        { ...setup.h.env, SMTP_URL: setup.smtp.url, LOG_LEVEL: 'info', ...env },
        90_000,
      );
      running.push(started);
      return started;
    },
  };
  beforeAll(async () => {
    setup.smtp = await startSmtp();
    setup.h = await createHarness({ SMTP_URL: setup.smtp.url });
  });
  afterEach(async () => {
    await Promise.all(running.map(killProcess));
    running = [];
    Object.assign(setup.smtp, { messages: [], respond: undefined, hold: undefined, delayMs: 0 });
  });
  afterAll(async () => {
    await setup.h?.close();
    await setup.smtp?.close();
  });
  return setup;
}
