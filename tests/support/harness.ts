import { randomBytes } from 'node:crypto';
import type { FastifyInstance, InjectOptions } from 'fastify';
import type { DestinationStream } from 'pino';
import { buildApp } from '../../src/app.js';
import { loadConfig, type Config } from '../../src/config.js';
import { createContext, type Context } from '../../src/context.js';
import { dropDatabase } from '../../src/db/index.js';
import type { Role } from '../../src/states.js';
import { createApiToken } from '../../src/db/tokens.js';
import { createLogger } from '../../src/log.js';
import { prepareDatabase } from '../../src/processes.js';
import { startWorkers, type RunningWorkers } from '../../workers/index.js';

export const BASE_DATABASE_URL = process.env.TEST_DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const REDIS_URL = process.env.TEST_REDIS_URL ?? 'redis://127.0.0.1:6379';

export interface Harness {
  config: Config;
  ctx: Context;
  app: FastifyInstance;
  token: string;
  /** A new API token of the role, created from the shell (no owner). */
  tokenFor(role: Role, name?: string): Promise<string>;
  /** Calls the API as the admin token; `json` parses the answer. */
  api(
    method: InjectOptions['method'],
    url: string,
    body?: unknown,
    headers?: Record<string, string>,
  ): Promise<{ status: number; json: any; body: string }>;
  startWorkers(): Promise<RunningWorkers>;
  /** The environment a child worker process needs to join this harness. */
  env: Record<string, string>;
  close(): Promise<void>;
}

/**
 * Everything one test file needs, isolated: its own database, its own BullMQ prefix, and
 * configuration pointing at them. Files can therefore run in parallel.
 */
export async function createHarness(
  overrides: Record<string, string> = {},
  options: { log?: DestinationStream } = {},
): Promise<Harness> {
  const id = randomBytes(4).toString('hex');
  const databaseUrl = new URL(BASE_DATABASE_URL);
  databaseUrl.pathname = `/presslift_test_${id}`;
  const env: Record<string, string> = {
    DATABASE_URL: databaseUrl.toString(),
    REDIS_URL,
    QUEUE_PREFIX: `{pltest-${id}}`,
    LOG_LEVEL: process.env.TEST_LOG_LEVEL ?? 'silent',
    // No minimum lead: on a loaded machine a release scheduled 1.2 s ahead must not be refused as too close.
    EMBARGO_MIN_LEAD_SECONDS: '0',
    SEND_BACKOFF_MS: '200',
    OUTBOX_DIR: `/tmp/presslift-test-outbox-${id}`,
    PUBLIC_URL: 'https://news.example.org',
    ...overrides,
  };
  const config = loadConfig(env);
  const log = createLogger(config.LOG_LEVEL, 'presslift', options.log);
  await prepareDatabase(config, log);
  const ctx = await createContext(config, log);
  const app = await buildApp(ctx);
  const tokenFor = async (role: Role, name = `test-${role}-${randomBytes(3).toString('hex')}`) =>
    (await createApiToken(ctx.db, { name, role, ownerAccountId: null, createdBy: 'cli:test' })).token;
  const token = await tokenFor('admin', 'test-admin');
  const running: RunningWorkers[] = [];

  return {
    config,
    ctx,
    app,
    token,
    tokenFor,
    env,
    async api(method, url, body, headers = {}) {
      const response = await app.inject({
        method,
        url,
        headers: { authorization: `Bearer ${token}`, ...headers },
        ...(body === undefined ? {} : typeof body === 'string' ? { payload: body } : { payload: body as object }),
      });
      let json: unknown;
      try {
        json = response.json();
      } catch {
        json = undefined;
      }
      return { status: response.statusCode, json, body: response.body };
    },
    async startWorkers() {
      const workers = await startWorkers(ctx);
      running.push(workers);
      return workers;
    },
    async close() {
      await Promise.all(running.map((w) => w.close()));
      await app.close();
      const keys = await ctx.redis.keys(`${config.QUEUE_PREFIX}:*`);
      if (keys.length > 0) await ctx.redis.del(...keys);
      await ctx.close();
      await dropDatabase(config.DATABASE_URL);
    },
  };
}

export async function waitUntil<T>(
  probe: () => Promise<T | undefined | false>,
  timeoutMs = 30_000,
  what = 'condition',
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}
