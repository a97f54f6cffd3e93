import { pingDatabase, type Db } from '../db/index.js';
import type { RedisClient } from '../queue/redis.js';
import { migrationsCurrent } from '../db/migrate.js';

/** Readiness asks the two stores this process depends on. */
export interface HealthDeps {
  db: Db;
  redis: RedisClient;
}

const CHECK_TIMEOUT_MS = 2_000;

type Check = 'redis' | 'postgres' | 'migrations';

export interface Readiness {
  ready: boolean;
  /** What anyone may see: each check 'ok' or 'failed'. */
  checks: Record<Check, 'ok' | 'failed'>;
  /** Why a check failed, for the log only: a raw driver error can name hosts, users and databases. */
  details: Partial<Record<Check, string>>;
}

/** Rejects after `ms`: a silently dropped connection must not hang the probe. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/** null when the probe answered, else why not. */
async function check(probe: () => Promise<unknown>): Promise<string | null> {
  try {
    await within(probe(), CHECK_TIMEOUT_MS);
    return null;
  } catch (error) {
    return (error as Error).message || 'failed';
  }
}

/**
 * Ready when Redis and PostgreSQL both answer now and every migration is applied. Each probe uses
 * the process's own clients, which reconnect by themselves, so readiness comes back on its own.
 */
export async function readiness(ctx: HealthDeps): Promise<Readiness> {
  const [redis, postgres] = await Promise.all([check(() => ctx.redis.ping()), check(() => pingDatabase(ctx.db))]);
  const migrations =
    postgres === null
      ? await check(async () => {
          if (!(await migrationsCurrent(ctx.db))) throw new Error('pending migrations; run `presslift migrate`');
        })
      : 'not checked while PostgreSQL is down';
  const failures: Partial<Record<Check, string>> = {};
  if (redis !== null) failures.redis = redis;
  if (postgres !== null) failures.postgres = postgres;
  if (migrations !== null) failures.migrations = migrations;
  const status = (name: Check) => (failures[name] === undefined ? 'ok' : 'failed');
  return {
    ready: Object.keys(failures).length === 0,
    checks: { redis: status('redis'), postgres: status('postgres'), migrations: status('migrations') },
    details: failures,
  };
}
