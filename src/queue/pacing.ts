import type { Config, DomainLimit } from '../config.js';
import type { Logger } from '../log.js';
import type { RedisClient } from './redis.js';

/**
 * Pacing per destination, shared by every worker through Redis. A send to 30,000 journalists is
 * half a dozen big mailbox providers, each with its own idea of a polite rate; and a global rate
 * caps the whole. Three things decide whether a message to a domain may go now:
 * - a slow-down the domain's servers asked for (421, or a 4.7.x reply), doubling while they keep asking;
 * - the domain's DOMAIN_LIMITS: a token bucket (one second's burst) and/or a cap on messages in flight;
 * - SEND_RATE_PER_SECOND, a token bucket over all messages.
 * A domain that must wait is not waited for: the caller hands its rows back for later, so recipients
 * at other domains go on (take() answers `defer`). Only the global rate, which every message shares,
 * is waited out in place. Keys live under QUEUE_PREFIX, whose hash tag keeps them in one Redis
 * Cluster slot, and the script reads Redis's clock, so all workers share one.
 */
export type Take =
  | { go: true; release(): void }
  | { go: false; domain: string; retryInMs: number; why: 'slow-down' | 'rate' | 'concurrency' | 'redis unavailable' };

/** How long a concurrency slot is held at most when its holder dies without giving it back. */
const SLOT_TTL_MS = 120_000;
/** A domain at its concurrency cap is looked at again after this long. */
const CONCURRENCY_RETRY_MS = 250;
/** Longest slow-down, as a multiple of SMTP_SLOW_DOWN_MS. */
const MAX_SLOW_DOWN_FACTOR = 16;
/** A domain that asked to slow down and then kept quiet this long starts again from the first pause. */
const SLOW_DOWN_MEMORY_MS = 10 * 60_000;

const SCRIPT = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local function bucket(key, rate)
  local capacity = math.max(1, rate)
  local state = redis.call('HMGET', key, 'tokens', 'at')
  local tokens = tonumber(state[1]) or capacity
  local at = tonumber(state[2]) or now
  tokens = math.min(capacity, tokens + math.max(0, now - at) * rate / 1000)
  if tokens >= 1 then return 0, tokens end
  return math.ceil((1 - tokens) * 1000 / rate), tokens
end
local function spend(key, tokens)
  redis.call('HSET', key, 'tokens', tostring(tokens - 1), 'at', now)
  redis.call('PEXPIRE', key, 3600000)
end
local globalRate, domainRate, concurrency = tonumber(ARGV[1]), tonumber(ARGV[2]), tonumber(ARGV[3])
local domainTokens, globalTokens
if domainRate > 0 then
  local wait
  wait, domainTokens = bucket(KEYS[2], domainRate)
  if wait > 0 then return {1, wait} end
end
if concurrency > 0 then
  redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
  if redis.call('ZCARD', KEYS[3]) >= concurrency then return {2, 0} end
end
if globalRate > 0 then
  local wait
  wait, globalTokens = bucket(KEYS[1], globalRate)
  if wait > 0 then return {3, wait} end
end
-- Both buckets (and a slot) are taken together or not at all.
if domainRate > 0 then spend(KEYS[2], domainTokens) end
if globalRate > 0 then spend(KEYS[1], globalTokens) end
if concurrency > 0 then
  redis.call('ZADD', KEYS[3], now + tonumber(ARGV[5]), ARGV[4])
  redis.call('PEXPIRE', KEYS[3], tonumber(ARGV[5]) * 2)
end
return {0, 0}
`;

type PaceCommand = (
  global: string,
  domain: string,
  slots: string,
  globalRate: number,
  domainRate: number,
  concurrency: number,
  member: string,
  ttl: number,
) => Promise<[number, number]>;

/** The domain of an address, lowercased; where its limits and slow-downs are kept. */
export function domainOf(email: string): string {
  return email.slice(email.lastIndexOf('@') + 1).toLowerCase();
}

export class Pacer {
  private readonly keys: {
    global: string;
    penalties: string;
    bucket: (d: string) => string;
    slots: (d: string) => string;
  };
  private readonly limits: Record<string, DomainLimit>;
  private readonly globalRate: number;
  /** Slow-downs as last read from Redis (every worker's 421s), plus this worker's own at once. */
  private penalties = new Map<string, { until: number; level: number }>();
  private readonly refresh: NodeJS.Timeout;
  private sequence = 0;

  constructor(
    private readonly redis: RedisClient,
    private readonly config: Pick<
      Config,
      'QUEUE_PREFIX' | 'DOMAIN_LIMITS' | 'SEND_RATE_PER_SECOND' | 'SMTP_SLOW_DOWN_MS'
    >,
    private readonly log: Logger,
  ) {
    const prefix = `${config.QUEUE_PREFIX}:pace`;
    this.keys = {
      global: `${prefix}:all`,
      penalties: `${prefix}:slow-down`,
      bucket: (domain) => `${prefix}:rate:${domain}`,
      slots: (domain) => `${prefix}:slots:${domain}`,
    };
    this.limits = config.DOMAIN_LIMITS;
    this.globalRate = config.SEND_RATE_PER_SECOND;
    if (!(redis as unknown as { presslift_pace?: PaceCommand }).presslift_pace)
      redis.defineCommand('presslift_pace', { numberOfKeys: 3, lua: SCRIPT });
    this.refresh = setInterval(() => void this.readPenalties(), 1000);
    this.refresh.unref();
  }

  /**
   * May a message to this address go now? When it may, release() must be called once it is handed over (or refused).
   */
  async take(email: string): Promise<Take> {
    const domain = domainOf(email);
    const penalty = this.penalties.get(domain);
    if (penalty && penalty.until > Date.now())
      return { go: false, domain, retryInMs: penalty.until - Date.now(), why: 'slow-down' };
    const limit = this.limits[domain];
    if (!limit && this.globalRate === 0) return { go: true, release: () => {} };
    const pace = (this.redis as unknown as { presslift_pace: PaceCommand }).presslift_pace.bind(this.redis);
    const member = `${process.pid}:${++this.sequence}`;
    for (;;) {
      let status: number;
      let wait: number;
      try {
        [status, wait] = await pace(
          this.keys.global,
          this.keys.bucket(domain),
          this.keys.slots(domain),
          this.globalRate,
          limit?.perSecond ?? 0,
          limit?.concurrency ?? 0,
          member,
          SLOT_TTL_MS,
        );
      } catch (error) {
        // Without Redis no pace can be kept: hold the message back rather than send past a limit.
        this.log.warn(
          { err: (error as Error).message, domain },
          'could not reach Redis to pace a message; holding it back',
        );
        return { go: false, domain, retryInMs: 1000, why: 'redis unavailable' };
      }
      if (status === 1) return { go: false, domain, retryInMs: wait, why: 'rate' };
      if (status === 2) return { go: false, domain, retryInMs: CONCURRENCY_RETRY_MS, why: 'concurrency' };
      // Every message waits for the global rate alike, so it is waited out here.
      if (status === 3) {
        await new Promise((resolve) => setTimeout(resolve, wait));
        continue;
      }
      const slots = limit?.concurrency ? this.keys.slots(domain) : null;
      return {
        go: true,
        release: () => {
          if (slots)
            this.redis
              .zrem(slots, member)
              .catch((error: Error) => this.log.warn({ err: error.message }, 'could not free a pacing slot'));
        },
      };
    }
  }

  /** How far apart the domain's rate spaces its messages (0 when it has no rate of its own). */
  spacingMs(domain: string): number {
    const perSecond = this.limits[domain]?.perSecond;
    return perSecond ? 1000 / perSecond : 0;
  }

  /**
   * The domain's servers asked us to slow down: no worker sends to it for SMTP_SLOW_DOWN_MS, twice
   * that if it asks again soon after, up to 16 times. Returns the pause.
   */
  async slowDown(domain: string): Promise<number> {
    const now = Date.now();
    const raw = await this.redis.hget(this.keys.penalties, domain);
    const [until, level] = raw ? (raw.split(':').map(Number) as [number, number]) : [0, -1];
    const next = now - until < SLOW_DOWN_MEMORY_MS ? Math.min(level + 1, Math.log2(MAX_SLOW_DOWN_FACTOR)) : 0;
    const pauseMs = this.config.SMTP_SLOW_DOWN_MS * 2 ** next;
    // Another worker may have paused it a moment ago: the later end wins.
    const penalty = { until: Math.max(until, now + pauseMs), level: next };
    this.penalties.set(domain, penalty);
    await this.redis.hset(this.keys.penalties, domain, `${penalty.until}:${penalty.level}`);
    this.log.warn({ domain, pauseMs }, 'a domain asked to slow down; pausing sends to it');
    return pauseMs;
  }

  private async readPenalties(): Promise<void> {
    try {
      const all = await this.redis.hgetall(this.keys.penalties);
      const now = Date.now();
      const next = new Map<string, { until: number; level: number }>();
      // Entries stay (one short field per domain that ever asked): the level needs the last pause's end.
      for (const [domain, value] of Object.entries(all)) {
        const [until, level] = value.split(':').map(Number) as [number, number];
        if (until > now) next.set(domain, { until, level });
      }
      this.penalties = next;
    } catch (error) {
      this.log.warn({ err: (error as Error).message }, 'could not read the domains that asked to slow down');
    }
  }

  close(): void {
    clearInterval(this.refresh);
  }
}
