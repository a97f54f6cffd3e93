import { hostname } from 'node:os';
import { Queue, type QueueOptions } from 'bullmq';
import { Redis } from 'ioredis';
import type { Phase } from '../db/schema';

export const LIFT_QUEUE = 'lift';
export const SEND_QUEUE = 'send';

/** How this process's workers name themselves to Redis: `presslift status` lists them, and each job records it (processedBy). */
export const WORKER_NAME = `${hostname()}:${process.pid}`;

/** Queue payloads carry ids only (invariant 4): the text of a release never reaches Redis. */
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
 * Workers block on Redis, so their connections must retry forever (maxRetriesPerRequest: null);
 * producers fail fast instead, so an API request does not hang while Redis is down.
 */
export function createRedis(url: string, role: 'worker' | 'producer'): Redis {
  return new Redis(url, {
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
    lazyConnect: false,
  });
}

export interface Queues {
  lift: Queue<LiftJob>;
  send: Queue<SendJob>;
  close(): Promise<void>;
}

export function createQueues(connection: Redis, prefix: string): Queues {
  const options: QueueOptions = { connection, prefix };
  const lift = new Queue<LiftJob>(LIFT_QUEUE, options);
  const send = new Queue<SendJob>(SEND_QUEUE, options);
  // Each queue re-emits its connection's errors (printing them when nobody listens); the owner of
  // the shared connection already logs them once.
  for (const queue of [lift, send]) queue.on('error', () => {});
  return {
    lift,
    send,
    async close() {
      await Promise.all([lift.close(), send.close()]);
    },
  };
}
