import { DelayedError, Worker, type Job } from 'bullmq';
import { SEND_QUEUE, type SendJob } from '../src/queue';
import { sendLimiter } from '../src/queue/send-rate';
import { workerOptions } from '../src/queue/worker-options';
import { DeferUntil, processSend, RetryLater, SlowDown, type SendDeps } from '../src/pipeline/send';

/** Longest pause a run of 421 replies can grow to, as a multiple of SMTP_SLOW_DOWN_MS. */
const MAX_SLOW_DOWN_FACTOR = 16;

export function createSendWorker(deps: SendDeps): Worker<SendJob> {
  const { config, log } = deps.ctx;
  let slowDowns = 0;

  /** Puts the job back until `at`; BullMQ does not count it as an attempt. */
  const defer = async (job: Job<SendJob>, token: string | undefined, at: number): Promise<never> => {
    await job.moveToDelayed(at, token);
    throw new DelayedError();
  };

  /** The relay said 421: this worker stops taking send jobs for a while, longer each time it keeps saying so. */
  const pauseSending = (): number => {
    const pauseMs = config.SMTP_SLOW_DOWN_MS * Math.min(2 ** slowDowns, MAX_SLOW_DOWN_FACTOR);
    slowDowns += 1;
    if (!worker.isPaused() && !worker.closing) {
      worker.pause(true);
      setTimeout(() => {
        if (!worker.closing) worker.resume();
      }, pauseMs).unref();
    }
    log.warn({ pauseMs }, 'relay asked to slow down; pausing this worker');
    return pauseMs;
  };

  const worker: Worker<SendJob> = new Worker<SendJob>(
    SEND_QUEUE,
    async (job, token) => {
      try {
        const result = await processSend(deps, job);
        slowDowns = 0;
        return result;
      } catch (error) {
        if (error instanceof SlowDown) return defer(job, token, Date.now() + pauseSending());
        // One second past the lease by this clock, which may trail PostgreSQL's a little.
        if (error instanceof DeferUntil) return defer(job, token, error.at.getTime() + 1000);
        throw error;
      }
    },
    { ...workerOptions(config), concurrency: config.SEND_CONCURRENCY, limiter: sendLimiter(config) },
  );
  worker.on('failed', (job, error) => {
    const level = error instanceof RetryLater ? 'warn' : 'error';
    log[level]({ releaseId: job?.data.releaseId, jobId: job?.id, attempt: job?.attemptsMade, err: error.message }, 'send batch failed');
  });
  worker.on('error', (error) => log.error({ err: error.message }, 'send worker error'));
  return worker;
}
