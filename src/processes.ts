import type { FastifyInstance } from 'fastify';
import { buildApp } from './app.js';
import { startProbeServer } from './api/probes.js';
import type { Config } from './config.js';
import { createContext, type Context } from './context.js';
import { assertTransactionsWork, createDb, ensureDatabase } from './db/index.js';
import { migrateToLatest } from './db/migrate.js';
import { createSetupToken } from './auth/setup-link.js';
import { hasAnyAccount } from './db/accounts.js';
import { createApiToken, hasAnyCredential } from './db/tokens.js';
import { startInbound, type InboundServer } from './inbound/server.js';
import type { Logger } from './log.js';
import { pingRedis } from './queue/redis.js';
import { ServiceUnreachable } from './services.js';
import { startWorkers } from '../workers/index.js';

/** Creates the database if needed and applies every pending migration. */
export async function prepareDatabase(config: Config, log: Logger): Promise<void> {
  await ensureDatabase(config.DATABASE_URL).catch((error: unknown) => {
    throw new ServiceUnreachable('PostgreSQL', config.DATABASE_URL, 'DATABASE_URL', error);
  });
  const db = createDb(config.DATABASE_URL, 1);
  try {
    await assertTransactionsWork(db);
    const applied = await migrateToLatest(db);
    if (applied.length > 0) log.info({ applied }, 'migrations applied');
  } finally {
    await db.destroy();
  }
}

/**
 * On a database with no credentials yet, creates an admin token and returns it (shown once). It
 * is for setting up: it stops working once a console admin exists.
 */
export async function bootstrapToken(ctx: Context): Promise<{ id: number; token: string } | null> {
  if (await hasAnyCredential(ctx.db)) return null;
  return createApiToken(ctx.db, {
    name: 'bootstrap-admin',
    role: 'admin',
    ownerAccountId: null,
    createdBy: 'first start',
    bootstrap: true,
  });
}

/** On a database with no staff account yet, a one-time link for the first admin to set a password. */
export async function setupLink(ctx: Context): Promise<string | null> {
  if (await hasAnyAccount(ctx.db)) return null;
  return `${ctx.config.PUBLIC_URL}/console/setup?token=${createSetupToken(ctx.keys)}`;
}

/** Redis answers now; every role needs it (the API to queue lifts, workers to take jobs). */
export async function requireRedis(config: Config): Promise<void> {
  await pingRedis(config).catch((error: unknown) => {
    const seed = config.REDIS_CLUSTER_NODES?.[0];
    if (seed) throw new ServiceUnreachable('Redis', `redis://${seed.host}:${seed.port}`, 'REDIS_CLUSTER_NODES', error);
    throw new ServiceUnreachable('Redis', config.REDIS_URL, 'REDIS_URL', error);
  });
}

export interface Running {
  ctx: Context;
  app?: FastifyInstance;
  stop(): Promise<void>;
}

export interface Roles {
  api: boolean;
  worker: boolean;
  /** The SMTP server taking bounces, complaints and unsubscribe mails, on this port. */
  inbound?: number;
}

/** Runs the API, the workers, the inbound mail server, or several in one process, with a bounded graceful stop. */
export async function run(config: Config, log: Logger, roles: Roles): Promise<Running> {
  const ctx = await createContext(config, log);
  const workers = roles.worker ? await startWorkers(ctx) : undefined;
  let app: FastifyInstance | undefined;
  if (roles.api) {
    app = await buildApp(ctx);
    await app.listen({ port: config.PORT, host: config.HOST });
  }
  const inbound: InboundServer | undefined =
    roles.inbound === undefined ? undefined : await startInbound(ctx, roles.inbound, config.INBOUND_HOST);
  const probes = config.METRICS_PORT ? await startProbeServer(ctx, config.METRICS_PORT, config.HOST) : undefined;
  return {
    ctx,
    app,
    async stop() {
      await inbound?.close();
      await app?.close();
      await workers?.close();
      await probes?.close();
      await ctx.close();
    },
  };
}
