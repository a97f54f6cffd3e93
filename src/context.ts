import type { Config } from './config.js';
import { createDb, type Db } from './db/index.js';
import { createLogger, type Logger } from './log.js';
import { createMetrics, type Metrics } from './telemetry/metrics.js';
import { createQueues, type Queues } from './queue/index.js';
import { createRedis, type RedisClient } from './queue/redis.js';
import { loadKeyring } from './secret.js';
import type { Keyring } from './signing.js';

/** What every role shares: configuration, logger, PostgreSQL, the producer side of the queues. */
export interface Context {
  config: Config;
  log: Logger;
  db: Db;
  redis: RedisClient;
  queues: Queues;
  metrics: Metrics;
  /** Signs and verifies links (unsubscribe, setup, confirmations). */
  keys: Keyring;
  close(): Promise<void>;
}

export async function createContext(config: Config, log: Logger = createLogger(config.LOG_LEVEL)): Promise<Context> {
  const db = createDb(config.DATABASE_URL);
  const redis = createRedis(config, 'producer');
  redis.on('error', (error) => log.warn({ err: error.message }, 'redis connection error'));
  const queues = createQueues(redis, config.QUEUE_PREFIX);
  const keys = await loadKeyring(db, config);
  return {
    config,
    log,
    db,
    redis,
    queues,
    metrics: createMetrics(db, queues, config.COMPLAINT_RATE_WARNING),
    keys,
    async close() {
      await queues.close();
      redis.disconnect();
      await db.destroy();
    },
  };
}
