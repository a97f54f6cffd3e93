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

/**
 * Connects once, without retrying, and pings: at start a missing Redis gets one clear answer
 * instead of the endless reconnect warnings of the long-lived connections.
 */
export async function pingRedis(url: string, timeoutMs = 3000): Promise<void> {
  const probe = new Redis(url, { lazyConnect: true, connectTimeout: timeoutMs, maxRetriesPerRequest: 0, retryStrategy: () => null, enableOfflineQueue: false });
  // connect() rejects with a bare "Connection is closed"; the socket's own error says why.
  let cause: Error | undefined;
  probe.on('error', (error: Error) => (cause ??= error));
  try {
    await probe.connect();
    await probe.ping();
  } catch (error) {
    throw cause ?? error;
  } finally {
    probe.disconnect();
  }
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
