import type { Context } from '../src/context.js';
import { createMailer } from '../src/mail/transport.js';
import { applyPauseState } from '../src/controls/pause.js';
import { RelayHealthRecorder } from '../src/mail/relay-health.js';
import { listenForPreparations } from '../src/pipeline/prepare.js';
import { messageSlots, sentRecorder } from '../src/pipeline/send.js';
import { runEvery, startSweeper, sweepOnce } from '../src/pipeline/sweep.js';
import { relayWebhooks } from '../src/pipeline/webhook.js';
import { WORKER_NAME } from '../src/queue/index.js';
import { Pacer } from '../src/queue/pacing.js';
import { organisation } from '../src/render/organisation.js';
import { RenderCache } from '../src/releases/renders.js';
import { createLiftWorker } from './lift.js';
import { createSendWorker } from './send.js';
import { createWebhookWorker } from './webhook.js';

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
    createSendWorker({
      ctx,
      renders,
      mailer,
      recorder: sentRecorder(ctx),
      slots: messageSlots(ctx.config),
      relayHealth: new RelayHealthRecorder(ctx.db, ctx.log),
      pacer,
    }),
    createWebhookWorker(ctx),
  ];
  const loops = [startSweeper(ctx, mailer), runEvery(ctx, 'webhook relay', WEBHOOK_RELAY_MS, () => relayWebhooks(ctx))];
  ctx.log.info(
    { worker: WORKER_NAME, mail: mailer.description, concurrency: ctx.config.SEND_CONCURRENCY },
    'workers started',
  );
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
