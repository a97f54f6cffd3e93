import { Cluster, Redis, type ClusterNode, type RedisOptions } from 'ioredis';
import type { Config } from '../config.js';

/**
 * A connection to Redis: one server, or a Redis Cluster (REDIS_CLUSTER_NODES). Every command Presslift uses works on
 * both.
 */
export type RedisClient = Redis | Cluster;

/**
 * The one place Presslift connects to Redis: the producer connection, every worker's blocking
 * connection, the preparation subscriber and (through the context) the sign-in rate limiter.
 * Workers block on Redis, so their connections retry forever (maxRetriesPerRequest: null, which
 * BullMQ requires of them); producers fail fast instead, so an API request does not hang while
 * Redis is down. With REDIS_CLUSTER_NODES set every connection is a cluster connection, which
 * follows MOVED redirections and failovers; QUEUE_PREFIX's hash tag keeps all of an installation's
 * keys in one slot, as BullMQ's multi-key scripts need.
 */
export function createRedis(
  config: Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>,
  role: 'worker' | 'producer',
): RedisClient {
  const options: RedisOptions = {
    maxRetriesPerRequest: role === 'worker' ? null : 1,
    enableOfflineQueue: role === 'worker',
  };
  if (config.REDIS_CLUSTER_NODES) {
    return new Cluster(config.REDIS_CLUSTER_NODES as ClusterNode[], {
      redisOptions: options,
      enableOfflineQueue: role === 'worker',
      // A failover takes a few seconds: keep a command waiting for the new master rather than failing it.
      retryDelayOnFailover: 200,
      retryDelayOnClusterDown: 300,
    });
  }
  return new Redis(config.REDIS_URL, { ...options, lazyConnect: false });
}

/**
 * Connects once, without retrying, and pings: at start a missing Redis gets one clear answer
 * instead of the endless reconnect warnings of the long-lived connections. With
 * REDIS_CLUSTER_NODES it asks the cluster, through its seeds.
 */
export async function pingRedis(
  config: Pick<Config, 'REDIS_URL' | 'REDIS_CLUSTER_NODES'>,
  timeoutMs = 3000,
): Promise<void> {
  const once: RedisOptions = {
    lazyConnect: true,
    connectTimeout: timeoutMs,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    enableOfflineQueue: false,
  };
  const probe = config.REDIS_CLUSTER_NODES
    ? new Cluster(config.REDIS_CLUSTER_NODES as ClusterNode[], {
        lazyConnect: true,
        enableOfflineQueue: false,
        clusterRetryStrategy: () => null,
        redisOptions: once,
      })
    : new Redis(config.REDIS_URL, once);
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
