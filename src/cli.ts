import { userInfo } from 'node:os';
import { Command, InvalidArgumentError, Option } from 'commander';
import { ConfigError, loadConfig, type Config } from './config';
import { createContext } from './context';
import { PoolModeError } from './db';
import { createApiToken, revokeApiToken } from './db/tokens';
import { TransitionError } from './embargo/scheduling';
import { createLogger, type Logger } from './log';
import { pauseSending, resumeSending } from './ops/pause';
import { applyRetention } from './ops/retention';
import { retryFailedDeliveries } from './ops/retry';
import { formatStatus, operatorStatus } from './ops/status';
import { reconcile } from './pipeline/reconcile';
import { bootstrapToken, prepareDatabase, requireRedis, run, setupLink } from './roles';
import { ServiceUnreachable } from './services';
import { readPassword } from './auth/prompt';
import { hashPassword, MIN_PASSWORD_LENGTH } from './auth/password';
import { AccountExistsError, createAccount } from './db/accounts';
import { recordAudit } from './db/audit';
import { emailAddress } from './fields';

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

async function serve(roles: { api: boolean; worker: boolean }) {
  const config = configOrExit();
  const log = createLogger(config.LOG_LEVEL);
  await prepareDatabase(config, log);
  await requireRedis(config);
  const running = await run(config, log, roles);
  stopOnSignal(log, running.stop);
  const banner: string[] = [];
  if (roles.api) {
    log.info({ url: config.PUBLIC_URL }, 'API listening');
    const token = await bootstrapToken(running.ctx);
    if (token) {
      banner.push(`Admin API token (shown once, keep it safe): ${token}`);
      banner.push(`Try: curl -H 'Authorization: Bearer ${token}' ${config.PUBLIC_URL}/api/lists`);
    }
    const link = await setupLink(running.ctx);
    if (link) {
      banner.push('No staff account yet. Open this one-time link (valid 24 hours, works once) to create the first administrator:');
      banner.push(link);
    }
  }
  if (roles.worker && !config.SMTP_URL) banner.push(`No SMTP_URL set: emails are written as .eml files to ${config.OUTBOX_DIR}`);
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
    // A refused transition (unknown release, wrong status) is the operator's answer, not a crash.
    if (!(error instanceof TransitionError)) throw error;
    console.error(error.message);
    process.exitCode = 1;
  } finally {
    await ctx.close();
  }
}

const program = new Command('presslift').description('Embargo-aware press release distribution');
program.command('start').description('migrate, then run the API and the workers in one process').action(() => serve({ api: true, worker: true }));
program.command('api').description('run the HTTP API only').action(() => serve({ api: true, worker: false }));
program.command('worker').description('run the lift and send workers only').action(() => serve({ api: false, worker: true }));
program.command('migrate').description('create the database if needed and apply migrations').action(async () => {
  const config = configOrExit();
  await prepareDatabase(config, createLogger(config.LOG_LEVEL));
});
program.command('reconcile').description('restore lift and send jobs from PostgreSQL (after Redis lost its data)').action(() =>
  withContext(async (ctx) => console.log(JSON.stringify(await reconcile(ctx)))),
);

program.command('prune').description('apply retention now: prune old releases\' deliveries to counts, purge expired sessions and tokens').action(() =>
  withContext(async (ctx) => console.log(JSON.stringify(await applyRetention(ctx)))),
);

program.command('pause').description('emergency stop: no worker starts a lift or send job until resume').action(() =>
  withContext(async (ctx) => {
    await pauseSending(ctx, operatorName());
    console.log('sending paused on every worker (running batches stop before their next message); `presslift resume` to continue');
  }),
);
program.command('resume').description('resume sending after pause; lifts that passed meanwhile go out now, late').action(() =>
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
  .description('queue a release\'s failed deliveries again')
  .requiredOption('--release <id>', 'the release id', (value) => positiveId('--release', value))
  .addOption(new Option('--state <state>', 'which deliveries to retry').choices(['failed']).default('failed'))
  .action((options: { release: number }) =>
    withContext(async (ctx) => {
      const result = await retryFailedDeliveries(ctx, options.release, operatorName());
      console.log(`release ${result.releaseId}: ${result.retried} failed deliveries queued again in ${result.sendJobs} send jobs`);
    }),
  );

const token = program.command('token').description('API tokens for automation');
token
  .command('create')
  .requiredOption('--name <name>', 'what the token is for')
  .addOption(new Option('--role <role>', 'what it may do').choices(['editor', 'operator', 'admin']).default('editor'))
  .action((options: { name: string; role: 'editor' | 'operator' | 'admin' }) =>
    withContext(async (ctx) => {
      const created = await createApiToken(ctx.db, options.name, options.role);
      console.log(`token ${created.id} (${options.role}): ${created.token}`);
    }),
  );
token
  .command('revoke')
  .argument('<id>', 'the token id')
  .action((id: string) =>
    withContext(async (ctx) => {
      const done = await revokeApiToken(ctx.db, Number(id));
      console.log(done ? `token ${id} revoked` : `no active token ${id}`);
      if (!done) process.exitCode = 1;
    }),
  );

const user = program.command('user').description('staff accounts for the console');
user
  .command('create')
  .requiredOption('--email <email>', 'their sign-in address')
  .addOption(new Option('--role <role>', 'what they may do').choices(['editor', 'operator', 'admin']).default('editor'))
  .addOption(new Option('--password <password>', 'for scripts; otherwise PRESSLIFT_PASSWORD or a prompt').env('PRESSLIFT_PASSWORD'))
  .action((options: { email: string; role: 'editor' | 'operator' | 'admin'; password?: string }) =>
    withContext(async (ctx) => {
      const email = emailAddress.safeParse(options.email);
      if (!email.success) throw new UsageError(`--email: ${email.error.issues[0]!.message}`);
      const password = options.password ?? (await readPassword(`Password for ${email.data}: `));
      if (password.length < MIN_PASSWORD_LENGTH) throw new UsageError(`the password must be at least ${MIN_PASSWORD_LENGTH} characters`);
      try {
        const { id } = await createAccount(ctx.db, email.data, options.role, await hashPassword(password));
        await recordAudit(ctx.db, { releaseId: null, actor: 'cli', action: 'account.create', details: { id, email: email.data, role: options.role } });
        console.log(`account ${id} (${options.role}): ${email.data}`);
      } catch (error) {
        if (error instanceof AccountExistsError) throw new UsageError(error.message);
        throw error;
      }
    }),
  );

class UsageError extends Error {}

try {
  await program.parseAsync(process.argv);
} catch (error) {
  // Our answer to a usage mistake, a missing service or an unusable pooler is one line and exit 1, not a stack trace.
  if (!(error instanceof UsageError || error instanceof ServiceUnreachable || error instanceof PoolModeError)) throw error;
  console.error(error.message);
  process.exit(1);
}
