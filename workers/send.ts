import { Worker } from 'bullmq';
import { createRedis, WORKER_NAME, SEND_QUEUE, type SendJob } from '../src/queue';
import { processSend, RetryLater, type SendDeps } from '../src/pipeline/send';

export function createSendWorker(deps: SendDeps): Worker<SendJob> {
  const { config, log } = deps.ctx;
  const worker = new Worker<SendJob>(SEND_QUEUE, (job) => processSend(deps, job), {
    connection: createRedis(config.REDIS_URL, 'worker'),
    prefix: config.QUEUE_PREFIX,
    name: WORKER_NAME,
    concurrency: config.SEND_CONCURRENCY,
    ...(config.SEND_RATE_PER_SECOND > 0
      ? { limiter: { max: Math.max(1, Math.round(config.SEND_RATE_PER_SECOND / config.SEND_BATCH_SIZE)), duration: 1000 } }
      : {}),
  });
  worker.on('failed', (job, error) => {
    const level = error instanceof RetryLater ? 'warn' : 'error';
    log[level]({ releaseId: job?.data.releaseId, jobId: job?.id, attempt: job?.attemptsMade, err: error.message }, 'send batch failed');
  });
  worker.on('error', (error) => log.error({ err: error.message }, 'send worker error'));
  return worker;
}
