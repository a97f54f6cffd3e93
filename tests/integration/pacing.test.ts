import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import { createLogger } from '../../src/log.js';
import { Pacer } from '../../src/queue/pacing.js';
import { REDIS_URL, waitUntil } from '../support/harness.js';

/** The per-destination pacer against real Redis, as two workers sharing it would use it. */
const prefix = `{pltest-pace-${randomBytes(4).toString('hex')}}`;
const redis = new Redis(REDIS_URL);
const pacers: Pacer[] = [];
const log = createLogger('silent');

function pacer(env: Record<string, string>) {
  const config = loadConfig({ QUEUE_PREFIX: prefix, SMTP_SLOW_DOWN_MS: '60000', ...env });
  const made = new Pacer(redis, config, log);
  pacers.push(made);
  return made;
}

afterAll(async () => {
  for (const p of pacers) p.close();
  const keys = await redis.keys(`${prefix}:*`);
  if (keys.length > 0) await redis.del(...keys);
  redis.disconnect();
});

describe('pacing per destination', () => {
  it("shares a domain's rate between workers and defers, never waits, once its bucket is empty; other domains go on", async () => {
    const env = { DOMAIN_LIMITS: 'rate.test=5/s' };
    const [one, two] = [pacer(env), pacer(env)];
    const takes = await Promise.all(Array.from({ length: 5 }, (_, i) => (i % 2 ? one : two).take(`r${i}@rate.test`)));
    expect(takes.every((t) => t.go)).toBe(true);
    const sixth = await one.take('r6@Rate.Test');
    expect(sixth).toMatchObject({ go: false, domain: 'rate.test', why: 'rate' });
    expect(!sixth.go && sixth.retryInMs).toBeGreaterThan(0);
    expect(!sixth.go && sixth.retryInMs).toBeLessThanOrEqual(200);
    expect((await two.take('r7@rate.test')).go).toBe(false);
    for (let i = 0; i < 20; i++) expect((await one.take(`u${i}@elsewhere.test`)).go).toBe(true);
  });

  it('holds a domain to N messages in flight, freeing a slot when one is released', async () => {
    const p = pacer({ DOMAIN_LIMITS: 'slots.test=2c' });
    const first = await p.take('a@slots.test');
    const second = await p.take('b@slots.test');
    expect([first.go, second.go]).toEqual([true, true]);
    expect(await p.take('c@slots.test')).toMatchObject({ go: false, why: 'concurrency' });
    if (first.go) first.release();
    await waitUntil(async () => (await p.take('c@slots.test')).go, 5000, 'a freed slot');
  });

  it('pauses a domain that asked to slow down, in every worker, and leaves the others alone', async () => {
    const [one, two] = [pacer({}), pacer({})];
    expect((await one.take('x@slow.test')).go).toBe(true);
    expect(await one.slowDown('slow.test')).toBe(60_000);
    expect(await one.take('x@slow.test')).toMatchObject({ go: false, why: 'slow-down', domain: 'slow.test' });
    // The other worker learns it from Redis within a second or so.
    await waitUntil(async () => !(await two.take('y@slow.test')).go, 5000, 'the other worker to see the slow-down');
    expect((await two.take('y@fast.test')).go).toBe(true);
    // Asked again soon after: the pause doubles.
    expect(await two.slowDown('slow.test')).toBe(120_000);
  });

  it('counts SEND_RATE_PER_SECOND in messages, waiting rather than deferring, since every message shares it', async () => {
    const p = pacer({ SEND_RATE_PER_SECOND: '4' });
    const granted: number[] = [];
    await Promise.all(
      Array.from({ length: 8 }, async (_, i) => {
        const take = await p.take(`g${i}@any${i}.test`);
        expect(take.go).toBe(true);
        granted.push(Date.now());
      }),
    );
    // A bucket of one second's burst (4) and 4 a second: the 8th message cannot go before about 1 s.
    expect(Math.max(...granted) - Math.min(...granted)).toBeGreaterThanOrEqual(900);
  });
});
