import { Worker } from 'bullmq';
import type { Context } from '../src/context.js';
import { processWebhook, WebhookRefused } from '../src/pipeline/webhook.js';
import { WEBHOOK_QUEUE, type WebhookJob } from '../src/queue/index.js';
import { workerOptions } from '../src/queue/worker-options.js';

/** Integration webhooks: a few at a time, since each may wait seconds on a slow endpoint. */
export function createWebhookWorker(ctx: Context): Worker<WebhookJob> {
  const { config, log } = ctx;
  const worker = new Worker<WebhookJob>(WEBHOOK_QUEUE, (job) => processWebhook(ctx, job), {
    ...workerOptions(config),
    concurrency: 4,
  });
  worker.on('failed', (job, error) => {
    const attemptsLeft = (job?.opts.attempts ?? 1) - (job?.attemptsMade ?? 0);
    const level = error instanceof WebhookRefused && attemptsLeft > 0 ? 'warn' : 'error';
    log[level](
      { webhookDeliveryId: job?.data.webhookDeliveryId, attempt: job?.attemptsMade, attemptsLeft, err: error.message },
      'webhook delivery failed',
    );
  });
  worker.on('error', (error) => log.error({ err: error.message }, 'webhook worker error'));
  return worker;
}
