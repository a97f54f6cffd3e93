import type { WorkerOptions } from 'bullmq';
import type { Config } from '../config.js';
import { WORKER_NAME } from './index.js';
import { createRedis } from './redis.js';

/**
 * What every Presslift worker shares: its own blocking Redis connection, the key prefix, its name, and the
 * job lock that decides how soon a dead worker's job is handed to another. A job may stall a few
 * times (a crash, a long GC pause) before BullMQ gives up on it; its rows are safe either way,
 * since the database, not the job, says what is left to send.
 */
export function workerOptions(config: Config): WorkerOptions {
  return {
    connection: createRedis(config, 'worker'),
    prefix: config.QUEUE_PREFIX,
    name: WORKER_NAME,
    lockDuration: config.JOB_LOCK_MS,
    stalledInterval: config.JOB_LOCK_MS,
    maxStalledCount: 5,
  };
}
