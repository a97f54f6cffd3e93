import type { FastifyRateLimitStore } from '@fastify/rate-limit';
import type { RedisClient } from '../queue/redis.js';
import type { Logger } from '../log.js';

type Result = { current: number; ttl: number };
type Callback = (error: Error | null, result?: Result) => void;

/** One counter per key and window: INCR, and start the window's expiry on the first hit. */
const INCREMENT = `
  local current = redis.call('INCR', KEYS[1])
  if current == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
  return {current, redis.call('PTTL', KEYS[1])}`;

/** Redis gets this long to answer before this process counts on its own. */
const REDIS_TIMEOUT_MS = 250;

/** Fixed windows in this process's memory, bounded in size (oldest keys go first). */
class LocalCounters {
  private readonly windows = new Map<string, { count: number; endsAt: number }>();

  incr(key: string, timeWindow: number): Result {
    const now = Date.now();
    let window = this.windows.get(key);
    if (!window || window.endsAt <= now) {
      this.windows.delete(key);
      window = { count: 0, endsAt: now + timeWindow };
      if (this.windows.size >= 10_000) this.windows.delete(this.windows.keys().next().value!);
      this.windows.set(key, window);
    }
    window.count += 1;
    return { current: window.count, ttl: window.endsAt - now };
  }
}

/**
 * A store for @fastify/rate-limit that counts in Redis, shared by every API process, and in this
 * process's memory whenever Redis does not answer: the public pages stay limited (per process)
 * through a Redis outage instead of going unlimited, as skipOnError would leave them.
 */
export function fallbackStore(redis: RedisClient, namespace: string, log: Logger) {
  const local = new LocalCounters();
  let warned = false;

  const incr = (prefix: string) => (key: string, callback: Callback, timeWindow: number) => {
    const fullKey = `${namespace}${prefix}${key}`;
    let settled = false;
    const fallBack = (error: Error) => {
      if (settled) return;
      settled = true;
      if (!warned) log.warn({ err: error.message }, 'rate limits count in this process while Redis does not answer');
      warned = true;
      callback(null, local.incr(fullKey, timeWindow));
    };
    const timer = setTimeout(() => fallBack(new Error(`no answer within ${REDIS_TIMEOUT_MS} ms`)), REDIS_TIMEOUT_MS);
    redis.eval(INCREMENT, 1, fullKey, timeWindow).then(
      (reply) => {
        clearTimeout(timer);
        if (settled) return;
        settled = true;
        warned = false;
        const [current, ttl] = reply as [number, number];
        callback(null, { current, ttl });
      },
      (error: Error) => {
        clearTimeout(timer);
        fallBack(error);
      },
    );
  };

  const store = (prefix: string): FastifyRateLimitStore => ({
    incr: incr(prefix),
    child: (options) => {
      const route = (options as unknown as { routeInfo?: { method?: string | string[]; url?: string } }).routeInfo;
      return store(`${prefix}${[route?.method ?? ''].flat().join(',')}${route?.url ?? ''}:`);
    },
  });

  // @fastify/rate-limit constructs its store with `new`; a constructor may hand back another object.
  // eslint-disable-next-line @typescript-eslint/no-extraneous-class
  return class {
    constructor() {
      return store('');
    }
  } as unknown as new () => FastifyRateLimitStore;
}
