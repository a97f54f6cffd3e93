import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password.js';
import { LIMITS } from '../../src/auth/throttle.js';
import { createAccount } from '../../src/db/accounts.js';
import { consoleClient, PASSWORD } from '../support/console-client.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';

/** A harness on a private redis-server that the test stops, as a Redis outage would. */
let redis: RedisServer;
let h: Harness;

beforeAll(async () => {
  redis = await startRedisServer();
  h = await createHarness({ REDIS_URL: redis.url, PUBLIC_REQUESTS_PER_MINUTE: '5' });
  await createAccount(h.ctx.db, 'steady@example.org', 'editor', await hashPassword(PASSWORD));
});
afterAll(async () => {
  // The harness cleans its keys in Redis on the way out, once its client is back.
  await redis?.restartEmpty();
  await waitUntil(async () => h.ctx.redis.status === 'ready', 15_000, 'Redis to be back');
  await h?.close();
  await redis?.stop();
});

describe('throttles while Redis is unreachable', () => {
  it('keep counting: public pages per process, sign-in in PostgreSQL', async () => {
    const get = (address: string) => h.app.inject({ method: 'GET', url: '/releases', remoteAddress: address });
    // With Redis up, the public limit counts in Redis.
    expect((await get('203.0.113.1')).statusCode).toBe(200);
    expect((await h.ctx.redis.keys(`${h.config.QUEUE_PREFIX}:rate-limit:*`)).length).toBeGreaterThan(0);

    await redis.stop();
    const publicStatuses: number[] = [];
    for (let i = 0; i < 6; i++) publicStatuses.push((await get('203.0.113.2')).statusCode);
    expect(publicStatuses).toEqual([200, 200, 200, 200, 200, 429]);
    expect((await get('203.0.113.3')).statusCode).toBe(200);

    const c = consoleClient(h, '203.0.113.4');
    const signIns: number[] = [];
    for (let i = 0; i <= LIMITS.signInPerAddress.max; i++)
      signIns.push((await c.signIn('nobody@example.org', 'a wrong guess')).statusCode);
    expect(signIns.slice(0, -1).every((s) => s === 401)).toBe(true);
    expect(signIns.at(-1)).toBe(429);
    // Signing in still works for everyone else: PostgreSQL holds sessions and counters.
    expect((await consoleClient(h, '203.0.113.5').signIn('steady@example.org')).statusCode).toBe(303);
  });
});
