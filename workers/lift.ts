import { Worker, type Job } from 'bullmq';
import { processAdvance } from '../src/pipeline/advance.js';
import { LIFT_QUEUE, type LiftJob } from '../src/queue/index.js';
import { workerOptions } from '../src/queue/worker-options.js';
import { processLift, type LiftDeps } from '../src/pipeline/lift.js';
import { raiseLiftFailed } from '../src/alerts/staff-alerts.js';

export function createLiftWorker(deps: LiftDeps): Worker<LiftJob> {
  const { config, log } = deps.ctx;
  // One queue, two phases: the advance copies for vetted journalists, then the lift itself.
  const process = (job: Job<LiftJob>, token?: string) =>
    job.data.phase === 'advance' ? processAdvance(deps, job, token) : processLift(deps, job, token);
  const worker = new Worker<LiftJob>(LIFT_QUEUE, process, {
    ...workerOptions(config),
    // Lift jobs fire 1.5 s early and mostly wait for their instant: twenty releases embargoed to
    // the same second must all be waiting at once, not two of them (fan-out work takes turns, see lift.ts).
    concurrency: 32,
  });
  worker.on('failed', (job, error) => {
    const attemptsLeft = (job?.opts.attempts ?? 1) - (job?.attemptsMade ?? 0);
    const ids = {
      releaseId: job?.data.releaseId,
      version: job?.data.version,
      phase: job?.data.phase,
      jobId: job?.id,
      attempt: job?.attemptsMade,
    };
    if (attemptsLeft > 0) log.warn({ ...ids, attemptsLeft, err: error.message }, 'lift failed; it will be retried');
    else {
      log.error(
        { ...ids, err: error.message },
        'lift failed for good; the standing sweep retries it and staff are alerted',
      );
      if (job)
        raiseLiftFailed(
          deps.ctx.db,
          job.data.releaseId,
          job.data.version,
          job.data.phase ?? 'lift',
          error.message,
        ).catch(() => {});
    }
  });
  worker.on('error', (error) => log.error({ err: error.message }, 'lift worker error'));
  return worker;
}
