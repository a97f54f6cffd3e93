import { Worker, type Job } from 'bullmq';
import { processAdvance } from '../src/pipeline/advance';
import { createRedis, LIFT_QUEUE, type LiftJob } from '../src/queue';
import { processLift, type LiftDeps } from '../src/pipeline/lift';

export function createLiftWorker(deps: LiftDeps): Worker<LiftJob> {
  const { config, log } = deps.ctx;
  // One queue, two phases: the advance copies for vetted journalists, then the lift itself.
  const process = (job: Job<LiftJob>, token?: string) =>
    job.data.phase === 'advance' ? processAdvance(deps, job, token) : processLift(deps, job, token);
  const worker = new Worker<LiftJob>(LIFT_QUEUE, process, {
    connection: createRedis(config.REDIS_URL, 'worker'),
    prefix: config.QUEUE_PREFIX,
    concurrency: 2,
  });
  worker.on('failed', (job, error) => log.error({ releaseId: job?.data.releaseId, jobId: job?.id, err: error.message }, 'lift failed'));
  worker.on('error', (error) => log.error({ err: error.message }, 'lift worker error'));
  return worker;
}
