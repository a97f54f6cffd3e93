import type { Config } from './config';
import { createDb, type Db } from './db';
import { createLogger, type Logger } from './log';
import { createMetrics, type Metrics } from './ops/metrics';
import { createQueues, type Queues } from './queue';
import { createRedis, type RedisClient } from './queue/redis';
import { loadSecret } from './secret';

/** What every role shares: configuration, logger, PostgreSQL, the producer side of the queues. */
export interface Context {
  config: Config;
  log: Logger;
  db: Db;
  redis: RedisClient;
  queues: Queues;
  metrics: Metrics;
  secret: string;
  close(): Promise<void>;
}

export async function createContext(config: Config, log: Logger = createLogger(config.LOG_LEVEL)): Promise<Context> {
  const db = createDb(config.DATABASE_URL);
  const redis = createRedis(config, 'producer');
  redis.on('error', (error) => log.warn({ err: error.message }, 'redis connection error'));
  const queues = createQueues(redis, config.QUEUE_PREFIX);
  const secret = await loadSecret(db, config);
  return {
    config,
    log,
    db,
    redis,
    queues,
    metrics: createMetrics(db, queues),
    secret,
    async close() {
      await queues.close();
      redis.disconnect();
      await db.destroy();
    },
  };
}
