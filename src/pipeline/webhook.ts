import type { Job, Queue } from 'bullmq';
import type { Context } from '../context.js';
import type { Db } from '../db/index.js';
import { publicSlug } from '../db/newsroom.js';
import {
  dropWebhookDelivery,
  recordWebhookAttempt,
  takeUnqueuedWebhookDeliveries,
  webhookToSend,
  type WebhookToSend,
} from '../db/webhooks.js';
import { postJson, succeeded } from '../integrations/http.js';
import { SIGNATURE_HEADER, signWebhook } from '../integrations/signature.js';
import { webhookJobId, type WebhookJob } from '../queue/index.js';

/**
 * With the default backoff (10 s, doubling) about eleven hours of retries, as receivers go down for maintenance and
 * come back.
 */
export const WEBHOOK_ATTEMPTS = 12;
/** An endpoint gets this long to answer; one that hangs must not hold a worker. */
const WEBHOOK_TIMEOUT_MS = 10_000;
const RELAY_CHUNK = 500;

/** Adds the jobs of webhook deliveries; each has one job id, so adding one twice is a no-op. */
export async function addWebhookJobs(
  queue: Queue<WebhookJob>,
  config: Context['config'],
  ids: number[],
): Promise<void> {
  if (ids.length === 0) return;
  await queue.addBulk(
    ids.map((id) => ({
      name: 'webhook',
      data: { webhookDeliveryId: id },
      opts: {
        jobId: webhookJobId(id),
        attempts: WEBHOOK_ATTEMPTS,
        backoff: { type: 'exponential', delay: config.WEBHOOK_BACKOFF_MS },
        removeOnComplete: { age: 86_400, count: 1000 },
        removeOnFail: { age: 7 * 86_400 },
      },
    })),
  );
}

/**
 * Moves the outbox's new webhook deliveries into the queue. The rows are marked and their jobs
 * added in one transaction, so a Redis refusal leaves them for the next pass; should the commit
 * fail after the jobs were added, the next pass adds the same job ids again, which is a no-op.
 */
export async function relayWebhooks(ctx: Context): Promise<number> {
  let relayed = 0;
  for (;;) {
    const ids = await ctx.db.transaction().execute(async (tx) => {
      const taken = await takeUnqueuedWebhookDeliveries(tx, RELAY_CHUNK);
      await addWebhookJobs(ctx.queues.webhook, ctx.config, taken);
      return taken;
    });
    relayed += ids.length;
    if (ids.length < RELAY_CHUNK) return relayed;
  }
}

/**
 * What an endpoint receives: the event's id, type and time, and its payload of ids and instants.
 * Only once the public may see the release does it carry its public URL (invariant "embargoed text stays home").
 */
async function webhookBody(
  db: Db,
  config: Context['config'],
  event: WebhookToSend['event'],
): Promise<Record<string, unknown>> {
  const data: Record<string, unknown> = { ...event.payload };
  if (event.release_id !== null && (event.type === 'release.lifted' || event.type === 'release.sent')) {
    const slug = await publicSlug(db, event.release_id);
    if (slug) data.url = `${config.PUBLIC_URL}/releases/${slug}`;
  }
  return { id: event.id, type: event.type, createdAt: event.created_at.toISOString(), data };
}

export class WebhookRefused extends Error {}

/**
 * Sends one webhook delivery, signed, and records the answer on the delivery and its endpoint. An
 * answer other than 2xx throws, so BullMQ retries with backoff; the last attempt ends it failed.
 */
export async function processWebhook(ctx: Context, job: Job<WebhookJob>): Promise<'delivered' | 'dropped' | 'done'> {
  const { db, config } = ctx;
  const delivery = await webhookToSend(db, job.data.webhookDeliveryId);
  if (!delivery || delivery.state !== 'pending') return 'done';
  if (!delivery.endpointLive) {
    await dropWebhookDelivery(db, delivery.id);
    return 'dropped';
  }
  const body = JSON.stringify(await webhookBody(db, config, delivery.event));
  const answer = await postJson(
    delivery.url,
    body,
    {
      [SIGNATURE_HEADER]: signWebhook(delivery.secret, body, Math.floor(Date.now() / 1000)),
      'Presslift-Event': delivery.event.type,
      'Presslift-Delivery': String(delivery.id),
    },
    WEBHOOK_TIMEOUT_MS,
  );
  const ok = succeeded(answer);
  const lastAttempt = job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
  await recordWebhookAttempt(db, delivery.id, delivery.endpointId, {
    status: answer.status,
    response: answer.body,
    outcome: ok ? 'delivered' : lastAttempt ? 'failed' : 'pending',
  });
  if (!ok)
    throw new WebhookRefused(
      `webhook endpoint ${delivery.endpointId} answered ${answer.status ?? 'nothing'}: ${answer.body.slice(0, 100)}`,
    );
  return 'delivered';
}
