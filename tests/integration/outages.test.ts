import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createContext, type Context } from '../../src/context.js';
import { createLogger } from '../../src/log.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';
import { captureLog } from '../support/log-capture.js';
import { startTcpProxy, type TcpProxy } from '../support/proxy.js';

// The process under test reaches Redis and PostgreSQL only through proxies the test can cut,
// so the shared services stay untouched.
let h: Harness;
let redisProxy: TcpProxy;
let postgresProxy: TcpProxy;
let ctx: Context;
let app: FastifyInstance;
const log = captureLog();
const METRICS_TOKEN = 'outage-metrics-token-0123456789';

const through = (url: string, proxy: TcpProxy) => {
  const proxied = new URL(url);
  proxied.hostname = '127.0.0.1';
  proxied.port = String(proxy.port);
  return proxied.toString();
};

beforeAll(async () => {
  h = await createHarness();
  redisProxy = await startTcpProxy(Number(new URL(h.config.REDIS_URL).port || 6379));
  postgresProxy = await startTcpProxy(Number(new URL(h.config.DATABASE_URL).port || 5432));
  const config = loadConfig({
    ...h.env,
    REDIS_URL: through(h.config.REDIS_URL, redisProxy),
    DATABASE_URL: through(h.config.DATABASE_URL, postgresProxy),
    METRICS_TOKEN,
  });
  ctx = await createContext(config, createLogger('info', 'presslift', log.stream));
  app = await buildApp(ctx);
});
afterAll(async () => {
  await redisProxy?.restore();
  await postgresProxy?.restore();
  await app?.close();
  await ctx?.close();
  await redisProxy?.close();
  await postgresProxy?.close();
  await h?.close();
});

const readyz = async () => {
  const response = await app.inject({ method: 'GET', url: '/readyz' });
  return { status: response.statusCode, body: response.json() };
};
const becomes = (status: number, what: string) =>
  waitUntil(
    async () => {
      const answer = await readyz();
      return answer.status === status && answer;
    },
    30_000,
    what,
  );

describe('/healthz and /readyz', () => {
  it('are ready while Redis and PostgreSQL answer and migrations are current', async () => {
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    // A fresh process is not ready until its Redis connection is up; on a loaded machine that takes a moment.
    expect(await becomes(200, 'ready at start')).toEqual({
      status: 200,
      body: { ready: true, checks: { redis: 'ok', postgres: 'ok', migrations: 'ok' } },
    });
  });

  it('fail while Redis is unreachable and recover by themselves', async () => {
    await redisProxy.cut();
    const down = await becomes(503, 'readyz to fail without Redis');
    expect(down.body.checks).toMatchObject({ postgres: 'ok', migrations: 'ok' });
    expect(down.body.checks.redis).not.toBe('ok');
    expect((await app.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    await redisProxy.restore();
    await becomes(200, 'readyz to recover with Redis');
  });

  it('fail while PostgreSQL is unreachable and recover by themselves, saying why only in the log', async () => {
    await postgresProxy.cut();
    const down = await becomes(503, 'readyz to fail without PostgreSQL');
    expect(down.body).toEqual({ ready: false, checks: { redis: 'ok', postgres: 'failed', migrations: 'failed' } });
    const scrape = await app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(scrape.statusCode).toBe(503);
    // Neither answer echoes the driver's error (hosts, ports, users); the log has it.
    for (const body of [JSON.stringify(down.body), scrape.body])
      expect(body).not.toMatch(/ECONN|127\.0\.0\.1|timeout|terminated|postgres:\/\//i);
    expect(scrape.json()).toMatchObject({ error: 'unavailable', message: expect.stringContaining('in the log') });
    const logged = log.entries().filter((e) => e.msg === 'not ready' || e.msg === 'metrics could not be collected');
    expect(logged.map((e) => e.msg)).toEqual(expect.arrayContaining(['not ready', 'metrics could not be collected']));
    expect(logged.filter((e) => e.msg === 'not ready').map((e) => Object.keys(e.checks as object))).toContainEqual([
      'postgres',
      'migrations',
    ]);
    await postgresProxy.restore();
    await becomes(200, 'readyz to recover with PostgreSQL');
  });
});

describe('the emergency stop while Redis is unreachable', () => {
  it('keeps the pause in PostgreSQL and answers 503 so the operator repeats it', async () => {
    await redisProxy.cut();
    await becomes(503, 'Redis to be seen as down');
    const response = await app.inject({
      method: 'POST',
      url: '/api/ops/pause',
      headers: { authorization: `Bearer ${h.token}` },
    });
    expect(response.statusCode).toBe(503);
    expect(response.json()).toMatchObject({
      error: 'queue_unavailable',
      message: expect.stringMatching(/recorded in PostgreSQL.*repeat it/),
    });
    expect(
      (
        await h.ctx.db
          .selectFrom('settings')
          .select('value')
          .where('key', '=', 'sending_paused')
          .executeTakeFirstOrThrow()
      ).value,
    ).toMatchObject({ paused: true });

    await redisProxy.restore();
    await becomes(200, 'Redis to be back');
    expect(
      (await app.inject({ method: 'POST', url: '/api/ops/pause', headers: { authorization: `Bearer ${h.token}` } }))
        .statusCode,
    ).toBe(200);
    expect(await h.ctx.queues.send.isPaused()).toBe(true);
  });
});

describe('/readyz and migrations', () => {
  it('fail while a migration is pending', async () => {
    // As if this build shipped a migration the database has not had yet.
    await sql`DELETE FROM kysely_migration WHERE name = (SELECT max(name) FROM kysely_migration)`.execute(h.ctx.db);
    const pending = await readyz();
    expect(pending.status).toBe(503);
    expect(pending.body.checks.migrations).toBe('failed');
    expect(
      log
        .entries()
        .filter((e) => e.msg === 'not ready')
        .map((e) => JSON.stringify(e.checks)),
    ).toContainEqual(expect.stringMatching(/pending migrations/));
  });
});
