import type { Context } from '../src/context';
import { createMailer } from '../src/mail/transport';
import { reconcile } from '../src/pipeline/reconcile';
import { listenForPreparations } from '../src/pipeline/prepare';
import { sentRecorder } from '../src/pipeline/send';
import { WORKER_NAME } from '../src/queue';
import { organisation } from '../src/render/organisation';
import { RenderCache } from '../src/render/store';
import { createLiftWorker } from './lift';
import { createSendWorker } from './send';

export interface RunningWorkers {
  close(): Promise<void>;
}

/** Starts the lift and send workers of one process, after restoring any jobs Redis lost. */
export async function startWorkers(ctx: Context): Promise<RunningWorkers> {
  const mailer = createMailer(ctx.config);
  const renders = new RenderCache(ctx.db, organisation(ctx.config));
  await reconcile(ctx);
  const preparations = await listenForPreparations({ ctx, renders, mailer });
  const workers = [createLiftWorker({ ctx, renders, mailer }), createSendWorker({ ctx, renders, mailer, recorder: sentRecorder(ctx) })];
  ctx.log.info({ worker: WORKER_NAME, mail: mailer.description, concurrency: ctx.config.SEND_CONCURRENCY }, 'workers started');
  return {
    async close() {
      await preparations.close();
      await Promise.all(workers.map((w) => w.close()));
      mailer.close();
    },
  };
}
