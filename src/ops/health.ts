import { sql } from 'kysely';
import type { Context } from '../context';
import { migrationsCurrent } from '../db/migrate';

const CHECK_TIMEOUT_MS = 2_000;

export interface Readiness {
  ready: boolean;
  checks: { redis: string; postgres: string; migrations: string };
}

/** Rejects after `ms`: a silently dropped connection must not hang the probe. */
function within<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

async function check(probe: () => Promise<unknown>): Promise<string> {
  try {
    await within(probe(), CHECK_TIMEOUT_MS);
    return 'ok';
  } catch (error) {
    return (error as Error).message || 'failed';
  }
}

/**
 * Ready when Redis and PostgreSQL both answer now and every migration is applied. Each probe uses
 * the process's own clients, which reconnect by themselves, so readiness comes back on its own.
 */
export async function readiness(ctx: Context): Promise<Readiness> {
  const [redis, postgres] = await Promise.all([
    check(() => ctx.redis.ping()),
    check(() => sql`SELECT 1`.execute(ctx.db)),
  ]);
  const migrations =
    postgres === 'ok'
      ? await check(async () => {
          if (!(await migrationsCurrent(ctx.db))) throw new Error('pending migrations; run `presslift migrate`');
        })
      : 'unknown while PostgreSQL is down';
  return { ready: redis === 'ok' && postgres === 'ok' && migrations === 'ok', checks: { redis, postgres, migrations } };
}
