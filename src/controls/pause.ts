import { readSetting, writeSetting } from '../db/settings.js';
import type { Logger } from '../log.js';
import type { Db } from '../db/index.js';
import { recordAudit } from '../db/audit.js';
import { QueueUnavailableError } from '../errors.js';
import type { Queues } from '../queue/index.js';

/** What pausing and resuming touch: the setting in PostgreSQL and the queues in Redis. */
export interface PauseDeps {
  db: Db;
  queues: Queues;
  log: Logger;
}

const SETTING = 'sending_paused';

export interface PauseState {
  paused: boolean;
  /** Who paused or resumed last, and when (ISO). */
  by: string | null;
  at: string | null;
}

/** The emergency stop as PostgreSQL remembers it; Redis's own flag may be lost with Redis. */
export async function pauseState(db: Db): Promise<PauseState> {
  return (await readSetting<PauseState>(db, SETTING)) ?? { paused: false, by: null, at: null };
}

export async function sendingPaused(db: Db): Promise<boolean> {
  return (await pauseState(db)).paused;
}

/**
 * Emergency stop. BullMQ's queue pause is global: no worker anywhere takes a new lift or send job;
 * running batches see the flag (BatchGuard) and queue their unsent rows again. Nothing is dropped: delayed lift jobs
 * whose instant passes wait in the paused queue and run, late, on resume. The flag is kept in
 * PostgreSQL first, so a worker that starts later, or reconcile after Redis lost its data, pauses again.
 */
export async function pauseSending(ctx: PauseDeps, actor: string): Promise<PauseState> {
  const state = await setPauseState(ctx.db, true, actor);
  await inRedis('pause', () => pauseQueues(ctx.queues));
  ctx.log.warn({ actor }, 'sending paused: no lift or send job starts until resumed');
  return state;
}

export async function resumeSending(ctx: PauseDeps, actor: string): Promise<PauseState> {
  const state = await setPauseState(ctx.db, false, actor);
  await inRedis('resume', () => Promise.all([ctx.queues.lift.resume(), ctx.queues.send.resume()]));
  ctx.log.warn({ actor }, 'sending resumed');
  return state;
}

/** PostgreSQL already holds the new flag; a Redis that does not answer is reported, so the operator repeats it. */
async function inRedis(what: 'pause' | 'resume', apply: () => Promise<unknown>): Promise<void> {
  try {
    await apply();
  } catch (error) {
    throw new QueueUnavailableError(
      `the ${what} is recorded in PostgreSQL, but Redis did not take it (${(error as Error).message}); repeat it once Redis answers`,
    );
  }
}

/** Makes Redis agree with PostgreSQL's flag (a worker starting, or reconcile). */
export async function applyPauseState(ctx: PauseDeps): Promise<boolean> {
  const paused = await sendingPaused(ctx.db);
  if (paused) await pauseQueues(ctx.queues);
  return paused;
}

async function pauseQueues(queues: Queues): Promise<void> {
  await Promise.all([queues.lift.pause(), queues.send.pause()]);
}

async function setPauseState(db: Db, paused: boolean, by: string): Promise<PauseState> {
  const state: PauseState = { paused, by, at: new Date().toISOString() };
  await db.transaction().execute(async (tx) => {
    await writeSetting(tx, SETTING, state);
    await recordAudit(tx, { releaseId: null, actor: by, action: paused ? 'pause-sending' : 'resume-sending' });
  });
  return state;
}
