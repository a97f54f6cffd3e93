import path from 'node:path';
import { z } from 'zod';

const integer = (fallback: number, min = 1) => z.coerce.number().int().min(min).default(fallback);
const url = (fallback: string) => z.string().url().default(fallback);
const zoneList = z
  .string()
  .default('America/New_York,Europe/London,Europe/Brussels,Asia/Seoul')
  .transform((raw) => raw.split(',').map((zone) => zone.trim()).filter(Boolean));

/** Every setting Presslift reads from the environment, with its default. */
const schema = z.object({
  DATABASE_URL: url('postgres://postgres@127.0.0.1:5432/presslift'),
  REDIS_URL: url('redis://127.0.0.1:6379'),
  /** A hash tag keeps all of Presslift's keys in one Redis Cluster slot. */
  QUEUE_PREFIX: z.string().min(1).default('{presslift}'),
  SMTP_URL: z.string().url().optional(),
  MAIL_FROM: z.string().min(3).default('Presslift Newsroom <newsroom@presslift.localhost>'),
  /** The address journalists' unsubscribe links and the newsroom use; defaults to this machine's PORT. */
  PUBLIC_URL: z.string().url().optional(),
  PORT: integer(3000, 0),
  HOST: z.string().default('0.0.0.0'),
  OUTBOX_DIR: z.string().default(path.resolve('outbox')),
  SEND_BATCH_SIZE: integer(200),
  SEND_CONCURRENCY: integer(4),
  FANOUT_CHUNK_SIZE: integer(2000),
  /** Global sending rate across all workers (messages per second); 0 means unlimited. */
  SEND_RATE_PER_SECOND: integer(0, 0),
  SEND_ATTEMPTS: integer(10),
  SEND_BACKOFF_MS: integer(1000),
  /** How long a worker may hold a claimed delivery without renewing before another may take it. */
  LEASE_SECONDS: integer(60),
  SMTP_POOL_SIZE: integer(4),
  SMTP_TIMEOUT_MS: integer(30_000),
  EMBARGO_MIN_LEAD_SECONDS: integer(10, 0),
  DISPLAY_TIME_ZONES: zoneList,
  MAX_BODY_BYTES: integer(1_000_000),
  ORG_NAME: z.string().min(1).default('Presslift Newsroom'),
  ORG_ADDRESS: z.string().default('1 Example Street, Springfield'),
  /** Signs unsubscribe tokens; when unset, a random key is created once and kept in PostgreSQL. */
  SECRET_KEY: z.string().min(32).optional(),
  LOG_LEVEL: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']).default('info'),
});

export type Config = Omit<z.infer<typeof schema>, 'PUBLIC_URL'> & { PUBLIC_URL: string };

export class ConfigError extends Error {}

/** Parses the environment; the error names the first offending variable in one line. */
export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const cleaned = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== ''));
  const result = schema.safeParse(cleaned);
  if (!result.success) {
    const issue = result.error.issues[0]!;
    throw new ConfigError(`invalid configuration: ${issue.path.join('.')}: ${issue.message}`);
  }
  const { PUBLIC_URL, ...rest } = result.data;
  return { ...rest, PUBLIC_URL: (PUBLIC_URL ?? `http://localhost:${rest.PORT}`).replace(/\/+$/, '') };
}
