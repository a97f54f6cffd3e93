import type { Queue } from 'bullmq';
import type { LiftJob } from '../queue';

/** One lift job per release version: re-adding the same version is a no-op, a new version gets a new job. */
export function liftJobId(releaseId: number, version: number): string {
  return `lift-${releaseId}-v${version}`;
}

/**
 * Puts the lift job for a release version in the queue, delayed until its instant by this
 * process's clock. That clock may be wrong: the lift worker re-checks against PostgreSQL.
 */
export async function addLiftJob(queue: Queue<LiftJob>, releaseId: number, version: number, instant: Date): Promise<void> {
  await queue.add(
    'lift',
    { releaseId, version },
    {
      jobId: liftJobId(releaseId, version),
      delay: Math.max(0, instant.getTime() - Date.now()),
      attempts: 25,
      backoff: { type: 'exponential', delay: 1000 },
      removeOnComplete: { age: 7 * 86_400 },
      removeOnFail: false,
    },
  );
}

/** Removes a version's lift job if it is still waiting; one that already runs is made stale by the version bump. */
export async function removeLiftJob(queue: Queue<LiftJob>, releaseId: number, version: number): Promise<void> {
  await queue.remove(liftJobId(releaseId, version)).catch(() => 0);
}
