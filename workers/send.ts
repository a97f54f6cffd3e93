import { DelayedError, Worker, type Job } from 'bullmq';
import { SEND_QUEUE, type SendJob } from '../src/queue/index.js';
import { workerOptions } from '../src/queue/worker-options.js';
import { DeferUntil, processSend, RetryLater, type SendDeps } from '../src/pipeline/send.js';

export function createSendWorker(deps: SendDeps): Worker<SendJob> {
  const { config, log } = deps.ctx;

  /** Puts the job back until `at`; BullMQ does not count it as an attempt. */
  const defer = async (job: Job<SendJob>, token: string | undefined, at: number): Promise<never> => {
    await job.moveToDelayed(at, token);
    throw new DelayedError();
  };

  const worker: Worker<SendJob> = new Worker<SendJob>(
    SEND_QUEUE,
    async (job, token) => {
      try {
        return await processSend(deps, job);
      } catch (error) {
        // One second past the lease by this clock, which may trail PostgreSQL's a little.
        if (error instanceof DeferUntil) return defer(job, token, error.at.getTime() + 1000);
        throw error;
      }
    },
    // The global rate and each domain's are kept per message by the pacer, not per job by BullMQ's limiter.
    { ...workerOptions(config), concurrency: config.SEND_CONCURRENCY },
  );
  worker.on('failed', (job, error) => {
    const level = error instanceof RetryLater ? 'warn' : 'error';
    log[level](
      { releaseId: job?.data.releaseId, jobId: job?.id, attempt: job?.attemptsMade, err: error.message },
      'send batch failed',
    );
  });
  worker.on('error', (error) => log.error({ err: error.message }, 'send worker error'));
  return worker;
}
