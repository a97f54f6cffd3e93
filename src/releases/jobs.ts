import type { Queue } from 'bullmq';
import type { Release } from '../db/schema.js';
import { PHASES, type Phase } from '../states.js';
import type { LiftJob } from '../queue/index.js';

/**
 * The delayed jobs that release a scheduled version: its lift, and its advance send when it has
 * advance lists. Only the lifecycle (src/releases/lifecycle.ts) and reconcile call these. A job is a
 * pointer: its worker re-reads the release and acts only if the version is still current.
 */

/** One job per release version and phase: re-adding it is a no-op, a new version gets a new job. */
export function liftJobId(releaseId: number, version: number, phase: Phase = 'lift'): string {
  return `${phase}-${releaseId}-v${version}`;
}

/**
 * How long before its instant a lift job fires: the lift worker prepares what may be prepared
 * (the compiled email, then, in every worker process, its MIME parts and the database and relay
 * connections) and then waits for the instant by PostgreSQL's clock, so the lift starts on time
 * instead of after a queue delay, an MJML compile and a round of SMTP greetings.
 */
export const LIFT_PREPARE_MS = 1500;

/**
 * Puts the lift job for a release version in the queue, delayed until its instant (for the lift
 * phase, shortly before it) by this process's clock. That clock may be wrong: the lift worker
 * re-checks against PostgreSQL.
 */
export async function addLiftJob(
  queue: Queue<LiftJob>,
  releaseId: number,
  version: number,
  instant: Date,
  phase: Phase = 'lift',
): Promise<void> {
  await queue.add('lift', phase === 'lift' ? { releaseId, version } : { releaseId, version, phase }, {
    jobId: liftJobId(releaseId, version, phase),
    delay: Math.max(0, instant.getTime() - (phase === 'lift' ? LIFT_PREPARE_MS : 0) - Date.now()),
    attempts: 25,
    backoff: { type: 'exponential', delay: 1000 },
    removeOnComplete: { age: 7 * 86_400 },
    removeOnFail: false,
  });
}

/**
 * Removes a version's jobs (lift and advance) if still waiting; one that already runs is made stale by the version
 * bump.
 */
export async function removeReleaseJobs(queue: Queue<LiftJob>, releaseId: number, version: number): Promise<void> {
  for (const phase of PHASES) await queue.remove(liftJobId(releaseId, version, phase)).catch(() => 0);
}

/**
 * When a release's advance copies may leave: a fixed lead before its embargo. Never when it has no
 * advance lists, or when staff lifted it early: then everyone gets the ordinary copy at once.
 */
export function advanceAt(
  release: Pick<Release, 'embargo_at' | 'advance_lead_seconds' | 'lift_requested_at'>,
): Date | null {
  if (!release.advance_lead_seconds || release.lift_requested_at) return null;
  return new Date(release.embargo_at.getTime() - release.advance_lead_seconds * 1000);
}

/** The jobs a scheduled release version needs: its lift, and its advance send if it has advance lists. */
export async function addReleaseJobs(
  queue: Queue<LiftJob>,
  release: Pick<Release, 'id' | 'version' | 'send_at' | 'embargo_at' | 'advance_lead_seconds' | 'lift_requested_at'>,
): Promise<void> {
  await addLiftJob(queue, release.id, release.version, release.send_at);
  const advance = advanceAt(release);
  if (advance) await addLiftJob(queue, release.id, release.version, advance, 'advance');
}
