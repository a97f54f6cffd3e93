import type { Context } from '../context.js';
import { asLeader, claimRetentionRun, recordSweep, recordSweepFailure } from '../db/reconcile.js';
import type { Mailer } from '../mail/transport.js';
import { dispatchAlerts, evaluateAlerts, raiseRestored } from '../alerts/staff-alerts.js';
import { applyRetention } from './retention.js';
import { reconcile, type ReconcileResult } from './reconcile.js';

/** Retention runs at most once an hour, by whichever process leads then. */
const RETENTION_EVERY_SECONDS = 3600;

export interface SweepResult {
  /** False when another process led this round; it did the work. */
  led: boolean;
  reconciled?: ReconcileResult;
  errors: string[];
}

/**
 * One round of the standing sweep, run by one process at a time (a PostgreSQL advisory lock):
 * reconcile Redis with PostgreSQL, raise and send staff alerts, and now and then apply retention.
 * Each step runs even if an earlier one failed (alerts still go out while Redis is down); the
 * round counts as successful, for the "last successful sweep" metric, only if every step did.
 */
export async function sweepOnce(ctx: Context, mailer: Mailer): Promise<SweepResult> {
  const { db, log } = ctx;
  const outcome = await asLeader(db, async () => {
    const sweptAt = new Date();
    const errors: string[] = [];
    const step = async <T>(name: string, run: () => Promise<T>): Promise<T | undefined> => {
      try {
        return await run();
      } catch (error) {
        errors.push(`${name}: ${(error as Error).message}`);
        log.warn({ step: name, err: (error as Error).message }, 'sweep step failed');
        return undefined;
      }
    };
    const reconciled = await step('reconcile', () => reconcile(ctx));
    if (reconciled && reconciled.liftJobs + reconciled.sendJobs + reconciled.webhookJobs > 0) {
      await step('alerts', () =>
        raiseRestored(db, sweptAt, {
          liftJobs: reconciled.liftJobs,
          sendJobs: reconciled.sendJobs,
          deliveries: reconciled.deliveriesWithoutJob,
          webhookJobs: reconciled.webhookJobs,
        }),
      );
    }
    await step('alerts', () => evaluateAlerts(ctx));
    await step('alerts', () => dispatchAlerts(ctx, mailer));
    await step('retention', async () => {
      if (await claimRetentionRun(db, RETENTION_EVERY_SECONDS)) await applyRetention(ctx);
    });
    await step('record', async () => {
      if (errors.length > 0) await recordSweepFailure(db, errors.join('; '));
      else
        await recordSweep(db, {
          deliveriesWithoutJob: reconciled!.deliveriesWithoutJob,
          restoredLiftJobs: reconciled!.liftJobs,
          restoredSendJobs: reconciled!.sendJobs,
        });
    });
    return { reconciled, errors };
  });
  return outcome.led ? { led: true, ...outcome.value } : { led: false, errors: [] };
}

export interface Loop {
  close(): Promise<void>;
}

/**
 * Runs `pass` every `intervalMs`, never two at once, until closed; close waits for a running
 * pass. A failing pass is logged and the loop goes on.
 */
export function runEvery(ctx: Context, what: string, intervalMs: number, pass: () => Promise<unknown>): Loop {
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();
  const tick = () => {
    running = pass()
      .then(
        () => undefined,
        (error: Error) => ctx.log.warn({ err: error.message }, `${what} failed; trying again in ${intervalMs} ms`),
      )
      .finally(() => {
        if (!stopped) timer = setTimeout(tick, intervalMs);
      });
  };
  timer = setTimeout(tick, intervalMs);
  return {
    async close() {
      stopped = true;
      clearTimeout(timer);
      await running;
    },
  };
}

/** The standing sweep of a worker process: every RECONCILE_INTERVAL_SECONDS, as leader if no other process is. */
export function startSweeper(ctx: Context, mailer: Mailer): Loop {
  return runEvery(ctx, 'sweep', ctx.config.RECONCILE_INTERVAL_SECONDS * 1000, () => sweepOnce(ctx, mailer));
}
