import { readFileSync } from 'node:fs';
import path from 'node:path';
import { z } from 'zod';
import { isPublicKey } from './public-keys.js';

const integer = (fallback: number, min = 1) => z.coerce.number().int().min(min).default(fallback);
const url = (fallback: string) => z.string().url().default(fallback);
const PUBLIC_KEY_MESSAGE =
  "this key is public (it appears in Presslift's repository or README); generate your own, e.g. `openssl rand -base64 48`";
const secretKey = z
  .string()
  .min(32, 'must be at least 32 characters')
  .refine((key) => !isPublicKey(key), PUBLIC_KEY_MESSAGE);
const commaList = z
  .string()
  .default('')
  .transform((raw) =>
    raw
      .split(',')
      .map((item) => item.trim())
      .filter(Boolean),
  );

/**
 * Fastify's trustProxy: "true" trusts every hop (only behind a proxy that overwrites
 * X-Forwarded-For), a number trusts that many hops, anything else is a comma-separated list of
 * proxy addresses or CIDR ranges.
 */
const trustProxy = z
  .string()
  .default('false')
  .transform((raw): boolean | number | string => {
    const value = raw.trim();
    if (value === 'false' || value === '0') return false;
    if (value === 'true') return true;
    return /^\d+$/.test(value) ? Number(value) : value;
  });

const zoneList = z
  .string()
  .default('America/New_York,Europe/London,Europe/Brussels,Asia/Seoul')
  .transform((raw) =>
    raw
      .split(',')
      .map((zone) => zone.trim())
      .filter(Boolean),
  );

const clusterNodes = z
  .string()
  .transform((raw) =>
    raw
      .split(',')
      .map((node) => node.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'each node is host:port')).min(1, 'name at least one host:port'))
  .transform((nodes) =>
    nodes.map((node) => ({
      host: node.slice(0, node.lastIndexOf(':')),
      port: Number(node.slice(node.lastIndexOf(':') + 1)),
    })),
  );

const emailList = z
  .string()
  .transform((raw) =>
    raw
      .split(',')
      .map((address) => address.trim())
      .filter(Boolean),
  )
  .pipe(z.array(z.string().email()).min(1, 'name at least one address'));

/** One destination's pace: a rate (messages a second) and/or how many of its messages may be in flight at once. */
export interface DomainLimit {
  perSecond: number | null;
  concurrency: number | null;
}

const UNIT_SECONDS: Record<string, number> = { s: 1, m: 60, h: 3600 };

/**
 * DOMAIN_LIMITS: "gmail.com=20/s,outlook.com=600/m+4c,small.example=2c": per recipient domain, a
 * rate (per s, m or h) and/or "Nc", at most N messages in flight at once, across all workers.
 */
const domainLimits = z
  .string()
  .default('')
  .transform((raw, ctx) => {
    const limits: Record<string, DomainLimit> = {};
    for (const entry of raw
      .split(',')
      .map((e) => e.trim())
      .filter(Boolean)) {
      const match = /^([a-z0-9.-]+\.[a-z]{2,})=(.+)$/i.exec(entry);
      const limit: DomainLimit = { perSecond: null, concurrency: null };
      for (const part of match ? match[2]!.split('+').map((p) => p.trim()) : []) {
        const rate = /^(\d+(?:\.\d+)?)\/([smh])$/.exec(part);
        const concurrency = /^(\d+)c$/.exec(part);
        if (rate && Number(rate[1]) > 0) limit.perSecond = Number(rate[1]) / UNIT_SECONDS[rate[2]!]!;
        else if (concurrency && Number(concurrency[1]) > 0) limit.concurrency = Number(concurrency[1]);
        else limit.perSecond = limit.concurrency = Number.NaN;
      }
      if (!match || Number.isNaN(limit.perSecond) || (limit.perSecond === null && limit.concurrency === null)) {
        ctx.addIssue({
          code: 'custom',
          message: `"${entry}" is not domain=<rate>/<s|m|h> and/or <n>c (e.g. gmail.com=20/s, outlook.com=10/s+4c)`,
        });
        return z.NEVER;
      }
      limits[match[1]!.toLowerCase()] = limit;
    }
    return limits;
  });

/** Every setting Presslift reads from the environment, with its default. */
const schema = z.object({
  DATABASE_URL: url('postgres://postgres@127.0.0.1:5432/presslift'),
  REDIS_URL: url('redis://127.0.0.1:6379'),
  /**
   * Redis Cluster seed nodes, `host:port,host:port`; when set every connection is a cluster connection and REDIS_URL is
   * unused.
   */
  REDIS_CLUSTER_NODES: clusterNodes.optional(),
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
  SEND_CONCURRENCY: integer(32),
  FANOUT_CHUNK_SIZE: integer(2000),
  /** Global sending rate across all workers, in messages a second; 0 means unlimited. */
  SEND_RATE_PER_SECOND: integer(0, 0),
  /** Pace per recipient domain, shared by all workers through Redis (see domainLimits). */
  DOMAIN_LIMITS: domainLimits,
  SEND_ATTEMPTS: integer(10),
  SEND_BACKOFF_MS: integer(1000),
  /** How long a worker may hold a claimed delivery without renewing before another may take it. */
  LEASE_SECONDS: integer(60),
  /**
   * BullMQ job lock; a job whose worker died is taken up again after about this long (also the stalled-check interval).
   */
  JOB_LOCK_MS: integer(30_000, 1000),
  /** First pause of sending to a domain whose mail got 421 or a 4.7.x reply; doubles while it keeps asking. */
  SMTP_SLOW_DOWN_MS: integer(5_000),
  SMTP_POOL_SIZE: integer(8),
  SMTP_TIMEOUT_MS: integer(30_000),
  EMBARGO_MIN_LEAD_SECONDS: integer(10, 0),
  DISPLAY_TIME_ZONES: zoneList,
  MAX_BODY_BYTES: integer(1_000_000),
  ORG_NAME: z.string().min(1).default('Presslift Newsroom'),
  ORG_ADDRESS: z.string().default('1 Example Street, Springfield'),
  /** An https image shown at the top of every email (about 240×60 px reads well). */
  ORG_LOGO_URL: z.string().url().optional(),
  /** The press office answering replies, unless a release names its own contact. */
  PRESS_CONTACT_NAME: z.string().min(1).default('Press Office'),
  PRESS_CONTACT_EMAIL: z.string().email().optional(),
  PRESS_CONTACT_PHONE: z.string().optional(),
  /** The mailto in List-Unsubscribe (default unsubscribe@ the MAIL_FROM domain); `presslift inbound` receives it. */
  UNSUBSCRIBE_MAILTO: z.string().email().optional(),
  /** The domain of the signed envelope senders (bounces+<delivery>-<signature>@); default the MAIL_FROM domain. */
  BOUNCE_DOMAIN: z
    .string()
    .regex(/^[A-Za-z0-9.-]+\.[A-Za-z]{2,}$|^[A-Za-z0-9-]+$/, 'a domain name')
    .optional(),
  /**
   * Where `presslift inbound` listens for bounces, complaints and unsubscribe mails; `npm start` runs it when the port
   * is set.
   */
  INBOUND_HOST: z.string().default('0.0.0.0'),
  INBOUND_PORT: z.coerce.number().int().min(0).max(65535).optional(),
  /** Largest mail the inbound role takes (a bounce carries the original message). */
  INBOUND_MAX_BYTES: integer(2_000_000),
  /** Mails one client address may hand the inbound role per minute; more get a temporary refusal. */
  INBOUND_RATE_PER_MINUTE: integer(600),
  /** PEM files for STARTTLS on the inbound role; without them it speaks plain SMTP. */
  INBOUND_TLS_KEY_FILE: z.string().min(1).optional(),
  INBOUND_TLS_CERT_FILE: z.string().min(1).optional(),
  /**
   * An address with this many soft bounces (mailbox full, greylisted to death) within SOFT_BOUNCE_DAYS is suppressed.
   */
  SOFT_BOUNCE_LIMIT: integer(3),
  SOFT_BOUNCE_DAYS: integer(14),
  /**
   * A list's complaint rate over 30 days above this fraction warns in the console and in metrics (Gmail and Yahoo act
   * at 0.003).
   */
  COMPLAINT_RATE_WARNING: z.coerce.number().min(0).max(1).default(0.001),
  /** Amazon SES through SNS: the topic ARNs whose (signed) notifications are accepted, comma-separated. */
  SES_TOPIC_ARNS: z
    .string()
    .default('')
    .transform((raw) =>
      raw
        .split(',')
        .map((arn) => arn.trim())
        .filter(Boolean),
    ),
  /** Postmark: the basic-auth credentials put in the webhook URL (https://user:password@host/webhooks/postmark). */
  POSTMARK_WEBHOOK_USER: z.string().min(1).optional(),
  POSTMARK_WEBHOOK_PASSWORD: z.string().min(16).optional(),
  /** Mailgun: the webhook signing key (Sending → Webhooks), which signs timestamp + token. */
  MAILGUN_WEBHOOK_SIGNING_KEY: z.string().min(16).optional(),
  /** Sender id for Gmail's feedback loop: Feedback-ID becomes <release>:<list>:<this>. */
  FEEDBACK_ID: z
    .string()
    .regex(/^[A-Za-z0-9._-]+$/, 'letters, digits, dot, dash, underscore')
    .optional(),
  /** DKIM signing happens when the domain, the selector and a key (inline PEM or a file) are set. */
  DKIM_DOMAIN: z.string().min(1).optional(),
  DKIM_SELECTOR: z.string().min(1).optional(),
  DKIM_PRIVATE_KEY: z.string().min(1).optional(),
  DKIM_PRIVATE_KEY_FILE: z.string().min(1).optional(),
  /** Largest file a release may carry. */
  MAX_ATTACHMENT_BYTES: integer(10_000_000),
  /** Signs unsubscribe links and the setup link; when unset, a random key is created once and kept in PostgreSQL. */
  SECRET_KEY: secretKey.optional(),
  /** Keys that signed before SECRET_KEY: links they signed keep working until they are removed from here. */
  SECRET_KEYS_PREVIOUS: commaList.pipe(z.array(secretKey)),
  /** Who must sign in with a second factor: nobody (it stays optional), admins, or every account. */
  REQUIRE_2FA: z.enum(['off', 'admin', 'all']).default('off'),
  /** Which proxies' X-Forwarded-For to believe when reading a client's address (see trustProxy). */
  TRUST_PROXY: trustProxy,
  /** Addresses (or @domain) a test copy may go to besides staff accounts' own. */
  TEST_SEND_ALLOWLIST: commaList.pipe(
    z.array(z.string().regex(/^[^@\s]*@[^@\s]+$/, 'give addresses or @domain entries')),
  ),
  /** Test copies one person or token may send an hour. */
  TEST_SENDS_PER_HOUR: integer(20),
  /** Largest CSV a subscriber import accepts. */
  MAX_IMPORT_BYTES: integer(50_000_000),
  /** Requests a minute one client address may make to the public pages (newsroom, files, feed, unsubscribe). */
  PUBLIC_REQUESTS_PER_MINUTE: integer(120),
  /** Bearer token that GET /metrics on the API port accepts (operator and admin API tokens work too). */
  METRICS_TOKEN: z.string().min(16).optional(),
  /** When set, every role also serves /metrics, /healthz and /readyz, unauthenticated, on this port. */
  METRICS_PORT: z.coerce.number().int().min(1).max(65535).optional(),
  /**
   * How often a worker sweeps (one at a time): restores lost lift and send jobs and the pause, raises alerts, applies
   * retention.
   */
  RECONCILE_INTERVAL_SECONDS: integer(15),
  /**
   * Staff alerts by email (comma-separated addresses, sent through Presslift's own mail path) and by webhook (Slack or
   * Teams).
   */
  ALERT_EMAILS: emailList.optional(),
  ALERT_WEBHOOK_URL: z.string().url().optional(),
  /** At most this many alerts an hour; the rest are held and counted in one digest once the hour allows. */
  ALERT_MAX_PER_HOUR: integer(20),
  /** A lift this late (not yet lifted, or lifted this long after its instant) raises an alert. */
  LIFT_LATE_ALERT_SECONDS: integer(60),
  /** Sending paused for longer than this raises an alert. */
  PAUSED_ALERT_MINUTES: integer(30, 0),
  /** The relay refusing every message for longer than this raises an alert. */
  RELAY_REFUSING_ALERT_MINUTES: integer(10, 0),
  /** First retry delay of an integration webhook, doubling for each of its 12 attempts (about 11 hours in all). */
  WEBHOOK_BACKOFF_MS: integer(10_000),
  /** Deliveries of releases older than this are pruned to per-release counts. */
  DELIVERY_RETENTION_DAYS: integer(400),
  /** How long a console sign-in lasts before the person must sign in again. */
  SESSION_HOURS: integer(12),
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
  if (!rest.POSTMARK_WEBHOOK_USER !== !rest.POSTMARK_WEBHOOK_PASSWORD) {
    throw new ConfigError('invalid configuration: POSTMARK_WEBHOOK_USER and POSTMARK_WEBHOOK_PASSWORD go together');
  }
  return {
    ...rest,
    DKIM_PRIVATE_KEY: dkimKey(rest),
    PUBLIC_URL: (PUBLIC_URL ?? `http://localhost:${rest.PORT}`).replace(/\/+$/, ''),
  };
}

/** DKIM is all or nothing: a half-configured signer would send unsigned mail that looks signed to staff. */
function dkimKey(config: z.infer<typeof schema>): string | undefined {
  const { DKIM_DOMAIN, DKIM_SELECTOR, DKIM_PRIVATE_KEY, DKIM_PRIVATE_KEY_FILE } = config;
  if (!DKIM_DOMAIN && !DKIM_SELECTOR && !DKIM_PRIVATE_KEY && !DKIM_PRIVATE_KEY_FILE) return undefined;
  if (!DKIM_DOMAIN || !DKIM_SELECTOR || !(DKIM_PRIVATE_KEY || DKIM_PRIVATE_KEY_FILE)) {
    throw new ConfigError(
      'invalid configuration: DKIM_DOMAIN, DKIM_SELECTOR and DKIM_PRIVATE_KEY (or DKIM_PRIVATE_KEY_FILE) go together',
    );
  }
  if (DKIM_PRIVATE_KEY) return DKIM_PRIVATE_KEY;
  try {
    return readFileSync(DKIM_PRIVATE_KEY_FILE!, 'utf8');
  } catch (error) {
    throw new ConfigError(`invalid configuration: DKIM_PRIVATE_KEY_FILE: ${(error as Error).message}`);
  }
}
