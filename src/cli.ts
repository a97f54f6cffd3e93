import { userInfo } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig, type Config } from './config.js';
import { createContext, type Context } from './context.js';
import { PoolModeError } from './db/index.js';
import { createApiToken, listApiTokens, revokeApiToken } from './db/tokens.js';
import { retireGeneratedKey } from './db/keys.js';
import { disableTotp } from './db/second-factor.js';
import { DomainError } from './errors.js';
import { createLogger, type Logger } from './log.js';
import { pauseSending, resumeSending } from './controls/pause.js';
import { applyRetention } from './pipeline/retention.js';
import { formatStatus, operatorStatus } from './telemetry/status.js';
import { reconcile } from './pipeline/reconcile.js';
import { retryFailed } from './releases/lifecycle.js';
import { bootstrapToken, prepareDatabase, requireRedis, run, setupLink, type Roles } from './processes.js';
import { ServiceUnreachable } from './services.js';
import { readPassword } from './auth/prompt.js';
import { hashPassword, MIN_PASSWORD_LENGTH } from './auth/password.js';
import { AccountExistsError, createAccount, enableAccount, findAccountByEmail } from './db/accounts.js';
import { recordAudit } from './db/audit.js';
import { emailAddress } from './fields.js';
import { ROLES } from './states.js';

const STOP_TIMEOUT_MS = 30_000;

function configOrExit(): Config {
  try {
    return loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(1);
    }
    throw error;
  }
}

/** SIGTERM/SIGINT stop taking work, finish what is in flight, and exit 0 — or exit 1 past the bound. */
function stopOnSignal(log: Logger, stop: () => Promise<void>) {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'stopping');
    const timer = setTimeout(() => {
      log.error({ timeoutMs: STOP_TIMEOUT_MS }, 'graceful stop timed out');
      process.exit(1);
    }, STOP_TIMEOUT_MS);
    timer.unref();
    stop().then(
      () => process.exit(0),
      (error) => {
        log.error({ err: (error as Error).message }, 'stop failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', handler);
  process.on('SIGINT', handler);
}

async function serve(chosen: (config: Config) => Roles) {
  const config = configOrExit();
  const roles = chosen(config);
  const log = createLogger(config.LOG_LEVEL);
  await prepareDatabase(config, log);
  await requireRedis(config);
  const running = await run(config, log, roles);
  stopOnSignal(log, running.stop);
  const banner: string[] = [];
  if (roles.api) {
    log.info({ url: config.PUBLIC_URL }, 'API listening');
    const bootstrap = await bootstrapToken(running.ctx);
    if (bootstrap) {
      banner.push(`Admin API token (shown once, keep it safe): ${bootstrap.token}`);
      banner.push(
        `It works until the first console administrator exists; revoke it sooner with: presslift token revoke ${bootstrap.id}`,
      );
      banner.push(`Try: curl -H 'Authorization: Bearer ${bootstrap.token}' ${config.PUBLIC_URL}/api/lists`);
    }
    const link = await setupLink(running.ctx);
    if (link) {
      banner.push(
        'No staff account yet. Open this one-time link (valid 24 hours, works once) to create the first administrator:',
      );
      banner.push(link);
    }
  }
  if (roles.worker && !config.SMTP_URL)
    banner.push(`No SMTP_URL set: emails are written as .eml files to ${config.OUTBOX_DIR}`);
  if (banner.length > 0) console.log(`\n  ${banner.join('\n  ')}\n`);
}

/** How the audit log names a person at the terminal. */
const operatorName = () => `cli:${process.env.USER ?? userInfo().username}`;

function positiveId(flag: string, value: string): number {
  const id = Number(value);
  if (!Number.isSafeInteger(id) || id <= 0) throw new InvalidArgumentError(`${flag} must be a positive whole number`);
  return id;
}

/** Runs a short command against PostgreSQL and Redis, then closes everything. */
async function withContext<T>(fn: (ctx: Awaited<ReturnType<typeof createContext>>) => Promise<T>): Promise<void> {
  const config = configOrExit();
  const log = createLogger(config.LOG_LEVEL);
  await prepareDatabase(config, log);
  await requireRedis(config);
  const ctx = await createContext(config, log);
  try {
    await fn(ctx);
  } catch (error) {
    // A refusal (unknown release, wrong status, Redis not answering) is the operator's answer, not a crash.
    if (!(error instanceof DomainError)) throw error;
    console.error(error.message);
    process.exitCode = 1;
  } finally {
    await ctx.close();
  }
}

const program = new Command('presslift').description('Embargo-aware press release distribution');
/**
 * The inbound mail server's port when not configured: unprivileged, so no root is needed; the MX host forwards 25 to
 * it.
 */
const INBOUND_DEFAULT_PORT = 2525;
program
  .command('start')
  .description(
    'migrate, then run the API and the workers in one process (and the inbound mail server when INBOUND_PORT is set)',
  )
  .action(() => serve((config) => ({ api: true, worker: true, inbound: config.INBOUND_PORT })));
program
  .command('api')
  .description('run the HTTP API only')
  .action(() => serve(() => ({ api: true, worker: false })));
program
  .command('worker')
  .description('run the lift and send workers only')
  .action(() => serve(() => ({ api: false, worker: true })));
program
  .command('inbound')
  .description(
    'run the SMTP server that takes bounces, complaints and unsubscribe mails (INBOUND_HOST:INBOUND_PORT, default 0.0.0.0:2525)',
  )
  .action(() =>
    serve((config) => ({ api: false, worker: false, inbound: config.INBOUND_PORT ?? INBOUND_DEFAULT_PORT })),
  );
program
  .command('migrate')
  .description('create the database if needed and apply migrations')
  .action(async () => {
    const config = configOrExit();
    await prepareDatabase(config, createLogger(config.LOG_LEVEL));
  });
program
  .command('reconcile')
  .description('restore lift and send jobs from PostgreSQL (after Redis lost its data)')
  .action(() => withContext(async (ctx) => console.log(JSON.stringify(await reconcile(ctx)))));

program
  .command('prune')
  .description("apply retention now: prune old releases' deliveries to counts, purge expired sessions and tokens")
  .action(() => withContext(async (ctx) => console.log(JSON.stringify(await applyRetention(ctx)))));

program
  .command('pause')
  .description('emergency stop: no worker starts a lift or send job until resume')
  .action(() =>
    withContext(async (ctx) => {
      await pauseSending(ctx, operatorName());
      console.log(
        'sending paused on every worker (running batches stop before their next message); `presslift resume` to continue',
      );
    }),
  );
program
  .command('resume')
  .description('resume sending after pause; lifts that passed meanwhile go out now, late')
  .action(() =>
    withContext(async (ctx) => {
      await resumeSending(ctx, operatorName());
      console.log('sending resumed');
    }),
  );
program
  .command('status')
  .description('queues, workers seen, releases sending or due in the next 24 hours')
  .option('--json', 'print JSON')
  .action((options: { json?: boolean }) =>
    withContext(async (ctx) => {
      const status = await operatorStatus(ctx);
      console.log(options.json ? JSON.stringify(status) : formatStatus(status));
    }),
  );
program
  .command('deliveries')
  .description('act on the deliveries of a release')
  .command('retry')
  .description("queue a release's failed deliveries again")
  .requiredOption('--release <id>', 'the release id', (value) => positiveId('--release', value))
  .addOption(new Option('--state <state>', 'which deliveries to retry').choices(['failed']).default('failed'))
  .action((options: { release: number }) =>
    withContext(async (ctx) => {
      const result = await retryFailed(ctx, options.release, operatorName());
      console.log(
        `release ${result.releaseId}: ${result.retried} failed deliveries queued again in ${result.sendJobs} send jobs`,
      );
    }),
  );

const token = program.command('token').description('API tokens for automation');
token
  .command('create')
  .requiredOption('--name <name>', 'what the token is for')
  .addOption(new Option('--role <role>', 'what it may do').choices(ROLES).default('editor'))
  .option('--expires-in-days <days>', 'stop working after this many days (default: until revoked)', (value) =>
    positiveId('--expires-in-days', value),
  )
  .action((options: { name: string; role: 'editor' | 'operator' | 'admin'; expiresInDays?: number }) =>
    withContext(async (ctx) => {
      const expiresAt = options.expiresInDays ? new Date(Date.now() + options.expiresInDays * 86_400_000) : null;
      const created = await createApiToken(ctx.db, {
        name: options.name,
        role: options.role,
        ownerAccountId: null,
        createdBy: operatorName(),
        expiresAt,
      });
      await recordAudit(ctx.db, {
        releaseId: null,
        actor: operatorName(),
        action: 'token.create',
        details: { id: created.id, name: options.name, role: options.role },
      });
      console.log(
        `token ${created.id} (${options.role}${expiresAt ? `, expires ${expiresAt.toISOString()}` : ''}): ${created.token}`,
      );
    }),
  );
token
  .command('list')
  .description('every token: role, owner, expiry, last use')
  .action(() =>
    withContext(async (ctx) => {
      for (const t of await listApiTokens(ctx.db)) {
        const state = t.revokedAt ? 'revoked' : t.expiresAt && t.expiresAt < new Date() ? 'expired' : 'live';
        console.log(
          `${t.id}\t${t.name}\t${t.role}\t${state}\towner=${t.owner ?? '-'}\texpires=${t.expiresAt?.toISOString() ?? 'never'}\tlast-used=${t.lastUsedAt?.toISOString() ?? 'never'}`,
        );
      }
    }),
  );
token
  .command('revoke')
  .argument('<id>', 'the token id')
  .action((id: string) =>
    withContext(async (ctx) => {
      const done = await revokeApiToken(ctx.db, Number(id));
      console.log(done ? `token ${id} revoked` : `no active token ${id}`);
      if (done)
        await recordAudit(ctx.db, {
          releaseId: null,
          actor: operatorName(),
          action: 'token.revoke',
          details: { id: Number(id) },
        });
      else process.exitCode = 1;
    }),
  );

const user = program.command('user').description('staff accounts for the console');
user
  .command('create')
  .requiredOption('--email <email>', 'their sign-in address')
  .addOption(new Option('--role <role>', 'what they may do').choices(ROLES).default('editor'))
  .addOption(
    new Option('--password <password>', 'for scripts; otherwise PRESSLIFT_PASSWORD or a prompt').env(
      'PRESSLIFT_PASSWORD',
    ),
  )
  .action((options: { email: string; role: 'editor' | 'operator' | 'admin'; password?: string }) =>
    withContext(async (ctx) => {
      const email = emailAddress.safeParse(options.email);
      if (!email.success) throw new UsageError(`--email: ${email.error.issues[0]!.message}`);
      const password = options.password ?? (await readPassword(`Password for ${email.data}: `));
      if (password.length < MIN_PASSWORD_LENGTH)
        throw new UsageError(`the password must be at least ${MIN_PASSWORD_LENGTH} characters`);
      try {
        const { id } = await createAccount(ctx.db, email.data, options.role, await hashPassword(password));
        await recordAudit(ctx.db, {
          releaseId: null,
          actor: 'cli',
          action: 'account.create',
          details: { id, email: email.data, role: options.role },
        });
        console.log(`account ${id} (${options.role}): ${email.data}`);
      } catch (error) {
        if (error instanceof AccountExistsError) throw new UsageError(error.message);
        throw error;
      }
    }),
  );

/** The active or disabled account an --email names, or a usage error. */
async function accountId(ctx: Context, email: string): Promise<number> {
  const found = await findAccountByEmail(ctx.db, email);
  if (!found) throw new UsageError(`no account ${email}`);
  return found.id;
}
user
  .command('enable')
  .description('let a disabled account sign in again (its revoked tokens stay revoked)')
  .requiredOption('--email <email>', 'their sign-in address')
  .action((options: { email: string }) =>
    withContext(async (ctx) => {
      const id = await accountId(ctx, options.email);
      const email = await enableAccount(ctx.db, id);
      if (email)
        await recordAudit(ctx.db, {
          releaseId: null,
          actor: operatorName(),
          action: 'account.enable',
          details: { id, email },
        });
      console.log(email ? `account ${id} enabled` : `account ${id} was not disabled`);
    }),
  );
user
  .command('reset-two-factor')
  .description('turn off the second factor of someone who lost their authenticator and recovery codes')
  .requiredOption('--email <email>', 'their sign-in address')
  .action((options: { email: string }) =>
    withContext(async (ctx) => {
      const id = await accountId(ctx, options.email);
      const done = await disableTotp(ctx.db, id);
      if (done)
        await recordAudit(ctx.db, {
          releaseId: null,
          actor: operatorName(),
          action: 'account.two-factor-reset',
          details: { id },
        });
      console.log(
        done
          ? `account ${id}: second factor turned off; they enrol again at their next sign-in if REQUIRE_2FA asks`
          : `account ${id} has no second factor`,
      );
    }),
  );

program
  .command('secret')
  .description('the signing key')
  .command('retire-generated')
  .description('forget the key generated before SECRET_KEY was set: the links it signed stop working')
  .action(() =>
    withContext(async (ctx) => {
      if (!ctx.config.SECRET_KEY)
        throw new UsageError('SECRET_KEY is not set: the generated key is the one signing links; set SECRET_KEY first');
      console.log(
        (await retireGeneratedKey(ctx.db))
          ? 'the generated key is forgotten; links it signed no longer work'
          : 'there was no generated key',
      );
    }),
  );

class UsageError extends Error {}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Our answer to a usage mistake, a missing service or an unusable pooler is one line and exit 1, not a stack trace.
  if (!(error instanceof UsageError || error instanceof ServiceUnreachable || error instanceof PoolModeError))
    throw error;
  console.error(error.message);
  process.exit(1);
}
