import { hostname } from 'node:os';
import { Queue, type QueueOptions } from 'bullmq';
import type { Phase } from '../states.js';
import type { RedisClient } from './redis.js';

export const LIFT_QUEUE = 'lift';
export const SEND_QUEUE = 'send';
export const WEBHOOK_QUEUE = 'webhook';

/**
 * How this process's workers name themselves to Redis: `presslift status` lists them, and each job records it
 * (processedBy).
 */
export const WORKER_NAME = `${hostname()}:${process.pid}`;

/** Queue payloads carry ids only (invariant "embargoed text stays home"): the text of a release never reaches Redis. */
export interface LiftJob {
  releaseId: number;
  version: number;
  /** Which send the job releases: the advance copies, or (when absent) the lift itself. */
  phase?: Phase;
}

export interface SendJob {
  releaseId: number;
  deliveryIds: number[];
}

/**
 * One integration webhook delivery (a row of webhook_deliveries); the body is built from PostgreSQL when it is sent.
 */
export interface WebhookJob {
  webhookDeliveryId: number;
}

/** A webhook delivery has one job, whoever adds it (the relay, or reconcile after Redis lost it). */
export const webhookJobId = (webhookDeliveryId: number) => `webhook-${webhookDeliveryId}`;

export interface Queues {
  lift: Queue<LiftJob>;
  send: Queue<SendJob>;
  webhook: Queue<WebhookJob>;
  close(): Promise<void>;
}

export function createQueues(connection: RedisClient, prefix: string): Queues {
  const options: QueueOptions = { connection, prefix };
  const lift = new Queue<LiftJob>(LIFT_QUEUE, options);
  const send = new Queue<SendJob>(SEND_QUEUE, options);
  const webhook = new Queue<WebhookJob>(WEBHOOK_QUEUE, options);
  // Each queue re-emits its connection's errors (printing them when nobody listens); the owner of
  // the shared connection already logs them once.
  for (const queue of [lift, send, webhook]) queue.on('error', () => {});
  return {
    lift,
    send,
    webhook,
    async close() {
      await Promise.all([lift.close(), send.close(), webhook.close()]);
    },
  };
}
