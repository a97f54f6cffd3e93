import type { Context } from '../src/context';
import { createMailer } from '../src/mail/transport';
import { applyPauseState } from '../src/controls/pause';
import { RelayHealthRecorder } from '../src/mail/relay-health';
import { listenForPreparations } from '../src/pipeline/prepare';
import { sentRecorder } from '../src/pipeline/send';
import { runEvery, startSweeper, sweepOnce } from '../src/pipeline/sweep';
import { relayWebhooks } from '../src/pipeline/webhook';
import { WORKER_NAME } from '../src/queue';
import { Pacer } from '../src/queue/pacing';
import { organisation } from '../src/render/organisation';
import { RenderCache } from '../src/releases/renders';
import { createLiftWorker } from './lift';
import { createSendWorker } from './send';
import { createWebhookWorker } from './webhook';

export interface RunningWorkers {
  close(): Promise<void>;
}

/** How often each worker moves new webhook events from PostgreSQL's outbox into the queue. */
const WEBHOOK_RELAY_MS = 1000;

/**
 * Starts the lift, send and webhook workers of one process, after restoring any jobs Redis lost,
 * and the standing sweep that keeps restoring them while the process runs.
 */
export async function startWorkers(ctx: Context): Promise<RunningWorkers> {
  const mailer = createMailer(ctx.config);
  const renders = new RenderCache(ctx.db, organisation(ctx.config));
  // When another process leads the sweep right now, it restores the jobs; the pause is re-applied
  // here either way before this process takes a job.
  const first = await sweepOnce(ctx, mailer);
  if (!first.led) await applyPauseState(ctx);
  const preparations = await listenForPreparations({ ctx, renders, mailer });
  const pacer = new Pacer(ctx.redis, ctx.config, ctx.log);
  const workers = [
    createLiftWorker({ ctx, renders, mailer }),
    createSendWorker({ ctx, renders, mailer, recorder: sentRecorder(ctx), relayHealth: new RelayHealthRecorder(ctx.db, ctx.log), pacer }),
    createWebhookWorker(ctx),
  ];
  const loops = [startSweeper(ctx, mailer), runEvery(ctx, 'webhook relay', WEBHOOK_RELAY_MS, () => relayWebhooks(ctx))];
  ctx.log.info({ worker: WORKER_NAME, mail: mailer.description, concurrency: ctx.config.SEND_CONCURRENCY }, 'workers started');
  return {
    async close() {
      await Promise.all(loops.map((loop) => loop.close()));
      await preparations.close();
      await Promise.all(workers.map((w) => w.close()));
      pacer.close();
      mailer.close();
    },
  };
}
