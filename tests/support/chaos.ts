import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import nodemailer from 'nodemailer';
import { listOfSize, scheduleIn } from './fixtures.js';
import { createHarness, waitUntil, type Harness } from './harness.js';
import {
  freePort,
  killProcess,
  runPresslift,
  spawnPresslift,
  startWorkerProcess,
  type PressliftProcess,
} from './processes.js';
import { startTcpProxy, type TcpProxy } from './proxy.js';
import { startRedisServer, type RedisServer } from './redis-server.js';
import { startSmtp, type TestSmtp } from './smtp.js';

/**
 * The chaos scenarios of issue 4, shared by the vitest suite (small) and `npm run chaos` (full
 * size). Each one runs real `presslift worker` processes against a real SMTP server, breaks
 * something for real, waits for the release to end, and measures the outcome from both sides:
 * PostgreSQL's delivery rows and what the SMTP server actually accepted.
 */

export interface ChaosScale {
  recipients: number;
  batchSize: number;
  /** Per-message delay of the SMTP server, so a fault lands in the middle of sending. */
  smtpDelayMs: number;
  relayOutageMs: number;
  databaseOutageMs: number;
  /** Recipients whose relay hangs forever after DATA (the rest of that scenario's list hangs once or not at all). */
  hangForever: number;
}

const SMALL: ChaosScale = {
  recipients: 24,
  batchSize: 4,
  smtpDelayMs: 100,
  relayOutageMs: 3000,
  databaseOutageMs: 3000,
  hangForever: 3,
};
const FULL: ChaosScale = {
  recipients: 3000,
  batchSize: 100,
  smtpDelayMs: 5,
  relayOutageMs: 30_000,
  databaseOutageMs: 5000,
  hangForever: 10,
};

/**
 * The suite runs SMALL; `npm run chaos` runs the same tests with CHAOS_SCALE=full (and
 * CHAOS_RECIPIENTS=N to change the release's size), and each scenario prints its table row.
 */
export function chaosScale(env = process.env): { scale: ChaosScale; full: boolean } {
  if (env.CHAOS_SCALE !== 'full') return { scale: SMALL, full: false };
  const recipients = env.CHAOS_RECIPIENTS ? Number(env.CHAOS_RECIPIENTS) : FULL.recipients;
  return { scale: { ...FULL, recipients }, full: true };
}

const COLUMNS = [
  'scenario',
  'recipients',
  'sent',
  'bounced',
  'failed',
  'skipped',
  'duplicates',
  'lost',
  'sent_before_embargo',
  'seconds',
] as const;

/** One scenario's line of the chaos table (Markdown), with its verdict. */
export function chaosTableRow(outcome: ChaosOutcome): string {
  const cells = [
    ...COLUMNS.map((c) => String(outcome.row[c])),
    outcome.problems.length === 0 ? 'ok' : `BROKEN: ${outcome.problems.join('; ')}`,
  ];
  return `| ${cells.join(' | ')} |`;
}

export const CHAOS_TABLE_HEADER = `| ${[...COLUMNS, 'verdict'].join(' | ')} |\n|${[...COLUMNS, 'verdict'].map(() => ' --- ').join('|')}|`;

export interface ChaosRow {
  scenario: string;
  recipients: number;
  sent: number;
  /** Accepted, then reported undeliverable by a DSN. */
  bounced: number;
  failed: number;
  skipped: number;
  /** Copies the SMTP server accepted more than once (same Message-ID): the accepted-but-unrecorded window. */
  duplicates: number;
  /** Deliveries not in a final state, rows marked sent that never arrived, or audience members without a row. */
  lost: number;
  sent_before_embargo: number;
  seconds: number;
}

export interface ChaosOutcome {
  row: ChaosRow;
  /** What went against the scenario's promise; empty when it held. */
  problems: string[];
  /** Scenario-specific observations, for the report. */
  notes: Record<string, unknown>;
}

const WORKER_SETTINGS = {
  LEASE_SECONDS: '2',
  JOB_LOCK_MS: '3000',
  SEND_CONCURRENCY: '2',
  SMTP_POOL_SIZE: '4',
  SEND_BACKOFF_MS: '200',
  SMTP_SLOW_DOWN_MS: '300',
  SMTP_TIMEOUT_MS: '5000',
};
const SMTP_POOL_SIZE = Number(WORKER_SETTINGS.SMTP_POOL_SIZE);
const SEND_CONCURRENCY = Number(WORKER_SETTINGS.SEND_CONCURRENCY);

interface World {
  scale: ChaosScale;
  h: Harness;
  smtp: TestSmtp;
  /** Between the workers and the SMTP server, so the relay can vanish. */
  relay: TcpProxy;
  env: Record<string, string>;
  startWorker(extra?: Record<string, string>): Promise<PressliftProcess>;
}

async function withWorld<T>(
  scale: ChaosScale,
  redisUrl: string | undefined,
  fn: (world: World) => Promise<T>,
): Promise<T> {
  const smtp = await startSmtp();
  const relay = await startTcpProxy(smtp.port);
  const h = await createHarness(redisUrl ? { REDIS_URL: redisUrl } : {});
  const workers: PressliftProcess[] = [];
  // Worker processes log at info: their logs are how a scenario follows (and explains) them.
  const env = {
    ...h.env,
    ...WORKER_SETTINGS,
    LOG_LEVEL: 'info',
    SMTP_URL: `smtp://127.0.0.1:${relay.port}`,
    SEND_BATCH_SIZE: String(scale.batchSize),
  };
  smtp.delayMs = scale.smtpDelayMs;
  try {
    return await fn({
      scale,
      h,
      smtp,
      relay,
      env,
      async startWorker(extra = {}) {
        const worker = await startWorkerProcess({ ...env, ...extra });
        workers.push(worker);
        return worker;
      },
    });
  } catch (error) {
    const tails = workers.map((w) => `worker ${w.child.pid}:\n${w.tail(15)}`).join('\n');
    throw new Error(`${(error as Error).message}\n${tails}`, { cause: error });
  } finally {
    await Promise.all(workers.map(killProcess));
    await h.close();
    await relay.close();
    await smtp.close();
  }
}

/** Takes a service away behind its proxy for a while, then gives it back on the same port. */
async function outage(proxy: TcpProxy, ms: number) {
  await proxy.cut();
  await new Promise((resolve) => setTimeout(resolve, ms));
  await proxy.restore();
}

/** Subscribers are reader0…readerN-1; some scenarios treat them by index. */
const readerIndex = (email: string) => Number(/^reader(\d+)@/.exec(email)?.[1] ?? -1);

function receivedFor(smtp: TestSmtp, releaseId: number) {
  const prefix = `<release-${releaseId}.`;
  return smtp.messages.filter((m) => m.mail.messageId?.startsWith(prefix));
}

async function waitForReceived(world: World, releaseId: number, count: number) {
  await waitUntil(
    async () => receivedFor(world.smtp, releaseId).length >= count,
    120_000,
    `${count} messages of release ${releaseId}`,
  );
}

async function waitForSent(world: World, releaseIds: number[], extraMs = 0) {
  const timeoutMs = 90_000 + world.scale.recipients * 40 + extraMs;
  await waitUntil(
    async () => {
      const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM releases WHERE id = ANY(${releaseIds}::bigint[]) AND status = 'sent'`.execute(
        world.h.ctx.db,
      );
      return rows[0]!.n === releaseIds.length;
    },
    timeoutMs,
    `releases ${releaseIds.join(', ')} sent`,
  );
}

/** A release to the list that lifts in two seconds (a worker must be running by then). */
async function releaseTo(world: World, listId: number) {
  return scheduleIn(world.h, [listId], 2000);
}

/** Counts both sides: the delivery rows in PostgreSQL, and what the SMTP server accepted. */
async function measure(world: World, scenario: string, releaseIds: number[], startedAt: number): Promise<ChaosRow> {
  const { db } = world.h.ctx;
  const { rows: states } = await sql<{ state: string; n: number }>`
    SELECT state, count(*)::int AS n FROM deliveries WHERE release_id = ANY(${releaseIds}::bigint[]) GROUP BY state`.execute(
    db,
  );
  const count = (state: string) => states.find((s) => s.state === state)?.n ?? 0;
  const rows = states.reduce((sum, s) => sum + s.n, 0);
  const { rows: sentRows } = await sql<{ message_id: string }>`
    SELECT message_id FROM deliveries WHERE release_id = ANY(${releaseIds}::bigint[]) AND state = 'sent'`.execute(db);
  const releases = await db.selectFrom('releases').select(['id', 'embargo_at']).where('id', 'in', releaseIds).execute();

  let duplicates = 0;
  let early = 0;
  const arrived = new Set<string>();
  for (const release of releases) {
    for (const message of receivedFor(world.smtp, release.id)) {
      if (arrived.has(message.mail.messageId!)) duplicates += 1;
      arrived.add(message.mail.messageId!);
      if (message.startedAt < release.embargo_at.getTime()) early += 1;
    }
  }
  const neverArrived = sentRows.filter((r) => !arrived.has(r.message_id)).length;
  const audience = world.scale.recipients * releaseIds.length;
  return {
    scenario,
    recipients: audience,
    sent: count('sent'),
    bounced: count('bounced'),
    failed: count('failed'),
    skipped: count('skipped'),
    duplicates,
    lost: count('queued') + count('sending') + neverArrived + Math.max(0, audience - rows),
    sent_before_embargo: early,
    seconds: Math.round((Date.now() - startedAt) / 100) / 10,
  };
}

/** The promises every scenario keeps, plus its own expected counts. */
function check(
  row: ChaosRow,
  expected: { sent: number; bounced?: number; failed?: number; skipped?: number; maxDuplicates?: number },
): string[] {
  const problems: string[] = [];
  const want = (what: keyof ChaosRow, actual: number, value: number) => {
    if (actual !== value) problems.push(`${what}: expected ${value}, got ${actual}`);
  };
  want('lost', row.lost, 0);
  want('sent_before_embargo', row.sent_before_embargo, 0);
  want('sent', row.sent, expected.sent);
  want('bounced', row.bounced, expected.bounced ?? 0);
  want('failed', row.failed, expected.failed ?? 0);
  want('skipped', row.skipped, expected.skipped ?? 0);
  const maxDuplicates = expected.maxDuplicates ?? 0;
  if (row.duplicates > maxDuplicates)
    problems.push(`duplicates: expected at most ${maxDuplicates}, got ${row.duplicates}`);
  return problems;
}

export interface Scenario {
  name: string;
  run(scale: ChaosScale): Promise<ChaosOutcome>;
}

const sigkill: Scenario = {
  name: 'worker SIGKILL mid-batch, restarted',
  run: (scale) =>
    withWorld(scale, undefined, async (world) => {
      const list = await listOfSize(world.h, 'Kill', scale.recipients);
      const first = await world.startWorker();
      const startedAt = Date.now();
      const { id } = await releaseTo(world, list);
      await waitForReceived(world, id, Math.ceil(scale.recipients / 4));
      first.kill('SIGKILL');
      await first.exited;
      const { rows } = await sql<{
        n: number;
      }>`SELECT count(*)::int AS n FROM deliveries WHERE release_id = ${id} AND state = 'sending'`.execute(
        world.h.ctx.db,
      );
      await world.startWorker();
      await waitForSent(world, [id]);
      const row = await measure(world, 'worker SIGKILL mid-batch', [id], startedAt);
      // A dead worker can have had at most its claimed batches in flight: that bounds the window.
      return {
        row,
        problems: check(row, { sent: scale.recipients, maxDuplicates: SEND_CONCURRENCY * scale.batchSize }),
        notes: { sendingAtKill: rows[0]!.n },
      };
    }),
};

const sigterm: Scenario = {
  name: 'worker SIGTERM mid-batch',
  run: (scale) =>
    withWorld(scale, undefined, async (world) => {
      const list = await listOfSize(world.h, 'Term', scale.recipients);
      const first = await world.startWorker();
      const startedAt = Date.now();
      const { id } = await releaseTo(world, list);
      await waitForReceived(world, id, Math.ceil(scale.recipients / 4));
      const signalledAt = Date.now();
      first.kill('SIGTERM');
      const exitCode = await first.exited;
      const stopSeconds = (Date.now() - signalledAt) / 1000;
      const { rows } = await sql<{ state: string; n: number }>`
      SELECT state, count(*)::int AS n FROM deliveries WHERE release_id = ${id} GROUP BY state`.execute(world.h.ctx.db);
      const atExit = Object.fromEntries(rows.map((r) => [r.state, r.n]));
      await world.startWorker();
      await waitForSent(world, [id]);
      const row = await measure(world, 'worker SIGTERM mid-batch', [id], startedAt);
      const problems = check(row, { sent: scale.recipients });
      if (exitCode !== 0) problems.push(`the stopped worker exited ${exitCode}, not 0`);
      if (atExit.sending) problems.push(`${atExit.sending} deliveries were left in flight by the stopped worker`);
      if (!atExit.queued) problems.push('the stopped worker kept taking jobs until the release was done');
      return { row, problems, notes: { exitCode, stopSeconds, atExit } };
    }),
};

const relayDown: Scenario = {
  name: 'relay refuses connections, then returns',
  run: (scale) =>
    withWorld(scale, undefined, async (world) => {
      const list = await listOfSize(world.h, 'Relay', scale.recipients);
      await world.startWorker();
      const startedAt = Date.now();
      const { id } = await releaseTo(world, list);
      await waitForReceived(world, id, Math.ceil(scale.recipients / 4));
      await outage(world.relay, scale.relayOutageMs);
      await waitForSent(world, [id]);
      const row = await measure(world, `relay down ${scale.relayOutageMs / 1000}s`, [id], startedAt);
      // Cutting open connections can swallow a 250 already written: at most one per pooled connection.
      return { row, problems: check(row, { sent: scale.recipients, maxDuplicates: SMTP_POOL_SIZE }), notes: {} };
    }),
};

const temporaryReplies: Scenario = {
  name: '421/450/451 retried and delivered',
  run: (scale) =>
    withWorld(scale, undefined, async (world) => {
      const list = await listOfSize(world.h, 'Temporary', scale.recipients);
      // Two attempts only: a 450/451 may use one retry, and 421s (two in a row) must not spend any.
      // A relay that says 421 to every batch pauses every batch, so only the first ten such recipients get one.
      world.smtp.respond = (rcpt, attempt) => {
        const i = readerIndex(rcpt);
        if (i % 6 === 1 && attempt === 1) return { code: 451, message: '4.3.0 temporary local problem' };
        if (i % 6 === 2 && attempt === 1) return { code: 450, message: '4.2.1 mailbox busy' };
        if (i % 6 === 3 && i < 60 && attempt <= 2) return { code: 421, message: '4.7.0 too many messages, slow down' };
        return undefined;
      };
      const worker = await world.startWorker({ SEND_ATTEMPTS: '2' });
      const startedAt = Date.now();
      const { id } = await releaseTo(world, list);
      await waitForSent(world, [id]);
      const row = await measure(world, '421/450/451 replies', [id], startedAt);
      const pauses = worker.logs.filter((l) => l.msg === 'a domain asked to slow down; pausing sends to it').length;
      const problems = check(row, { sent: scale.recipients });
      if (pauses === 0) problems.push('no 421 paused the domain');
      return { row, problems, notes: { slowDownPauses: pauses } };
    }),
};

const permanentReplies: Scenario = {
  name: '550/553 fail at once, suppress, skipped later',
  run: (scale) =>
    withWorld(scale, undefined, async (world) => {
      const list = await listOfSize(world.h, 'Permanent', scale.recipients);
      const refused = (i: number) => i % 8 === 1 || i % 8 === 2;
      world.smtp.respond = (rcpt) => {
        const i = readerIndex(rcpt);
        if (i % 8 === 1) return { code: 550, message: '5.1.1 no such mailbox' };
        if (i % 8 === 2) return { code: 553, message: '5.1.3 mailbox name not allowed' };
        return undefined;
      };
      await world.startWorker();
      const startedAt = Date.now();
      const first = await releaseTo(world, list);
      await waitForSent(world, [first.id]);
      const later = await releaseTo(world, list);
      await waitForSent(world, [later.id]);
      const row = await measure(world, '550/553 + later release', [first.id, later.id], startedAt);
      const refusedCount = Array.from({ length: scale.recipients }, (_, i) => i).filter(refused).length;
      const problems = check(row, {
        sent: 2 * (scale.recipients - refusedCount),
        failed: refusedCount,
        skipped: refusedCount,
      });

      const { db } = world.h.ctx;
      const { rows: failed } = await sql<{ attempts: number; last_error: string }>`
      SELECT attempts, last_error FROM deliveries WHERE release_id = ${first.id} AND state = 'failed'`.execute(db);
      if (failed.some((f) => f.attempts !== 1)) problems.push('a permanent refusal was retried');
      if (failed.some((f) => !/no such mailbox|mailbox name not allowed/.test(f.last_error)))
        problems.push('a failed delivery lacks the reply');
      const { rows: suppressed } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM suppressions`.execute(db);
      if (suppressed[0]!.n !== refusedCount)
        problems.push(`${suppressed[0]!.n} addresses suppressed, expected ${refusedCount}`);
      if (receivedFor(world.smtp, later.id).some((m) => refused(readerIndex(m.to[0]!))))
        problems.push('a suppressed address got the later release');
      return { row, problems, notes: { suppressed: suppressed[0]!.n } };
    }),
};

const hangingRelay: Scenario = {
  name: 'relay accepts DATA then hangs',
  run: (scale) =>
    withWorld(scale, undefined, async (world) => {
      const list = await listOfSize(world.h, 'Hang', scale.recipients);
      const forever = (i: number) => i < scale.hangForever;
      world.smtp.hang = (rcpt, attempt) => {
        const i = readerIndex(rcpt);
        return forever(i) || (i < 2 * scale.hangForever && attempt === 1);
      };
      await world.startWorker({ SMTP_TIMEOUT_MS: '1500', SEND_ATTEMPTS: '3' });
      const startedAt = Date.now();
      const { id } = await releaseTo(world, list);
      await waitForSent(world, [id]);
      const row = await measure(world, 'relay hangs after DATA', [id], startedAt);
      const problems = check(row, { sent: scale.recipients - scale.hangForever, failed: scale.hangForever });
      const { rows } = await sql<{ attempts: number; last_error: string }>`
      SELECT attempts, last_error FROM deliveries WHERE release_id = ${id} AND state = 'failed'`.execute(
        world.h.ctx.db,
      );
      if (rows.some((r) => r.attempts !== 3))
        problems.push(`hung deliveries were tried ${rows.map((r) => r.attempts).join(',')} times, not 3`);
      return { row, problems, notes: { failedWith: rows[0]?.last_error } };
    }),
};

/**
 * How long the rolling deploy keeps a release sending at least (a global rate), so every replacement
 * lands mid-send. On a loaded machine one graceful stop has taken 19 s (CI, 2 cores), which used up
 * a 20 s release before the second worker was replaced; 45 s leaves room for both. The rate is a
 * whole number a second, so the release has at least this many recipients: 24 at one a second
 * were done in 26 s, before the second replacement.
 */
const ROLLING_SEND_SECONDS = 45;

const rollingDeploy: Scenario = {
  name: 'rolling deploy: every worker replaced one by one mid-send',
  run: (scale) =>
    withWorld(scale, undefined, async (world) => {
      const recipients = Math.max(scale.recipients, ROLLING_SEND_SECONDS);
      const list = await listOfSize(world.h, 'Rolling', recipients);
      const rate = { SEND_RATE_PER_SECOND: String(Math.floor(recipients / ROLLING_SEND_SECONDS)) };
      const old = [await world.startWorker(rate), await world.startWorker(rate)];
      const startedAt = Date.now();
      const { id } = await releaseTo(world, list);
      // The new workers start while the release sends (as an orchestrator surges a deployment), and
      // each old worker is told to stop only once a new one is up.
      const fresh = [world.startWorker(rate), world.startWorker(rate)];
      await waitForReceived(world, id, Math.ceil(recipients / 10));
      const replaced: Array<{ exitCode: number | string; stopSeconds: number; receivedAtStop: number }> = [];
      for (const [i, worker] of old.entries()) {
        await fresh[i];
        const receivedAtStop = receivedFor(world.smtp, id).length;
        const signalledAt = Date.now();
        worker.kill('SIGTERM');
        replaced.push({
          exitCode: await worker.exited,
          stopSeconds: (Date.now() - signalledAt) / 1000,
          receivedAtStop,
        });
        // The others carry on.
        await waitForReceived(world, id, Math.min(recipients, receivedAtStop + 1));
      }
      await waitForSent(world, [id], 2 * ROLLING_SEND_SECONDS * 1000);
      const row = await measure(world, 'rolling deploy', [id], startedAt);
      const problems = check(row, { sent: recipients });
      if (replaced.some((r) => r.exitCode !== 0))
        problems.push(`a replaced worker exited ${replaced.map((r) => r.exitCode).join(', ')}, not 0`);
      if (replaced.some((r) => r.receivedAtStop >= recipients))
        problems.push('the release was done before every worker was replaced');
      return { row, problems, notes: { replaced } };
    }),
};

const redisLost: Scenario = {
  name: 'Redis restarted empty, then reconciled',
  run: async (scale) => {
    const redis: RedisServer = await startRedisServer();
    try {
      return await withWorld(scale, redis.url, async (world) => {
        const list = await listOfSize(world.h, 'Redis', scale.recipients);
        await world.startWorker();
        const startedAt = Date.now();
        const sending = await releaseTo(world, list);
        await waitForReceived(world, sending.id, Math.ceil(scale.recipients / 4));
        // A second release whose lift job exists only in Redis when Redis goes.
        const scheduled = await scheduleIn(world.h, [list], 8_000);
        await redis.restartEmpty();
        const reconciled = await runPresslift(['reconcile'], world.env);
        await waitForSent(world, [sending.id, scheduled.id]);
        const row = await measure(world, 'Redis restarted empty', [sending.id, scheduled.id], startedAt);
        // `presslift reconcile` prints its counts as one JSON line; the workers' standing sweep may have been first.
        const restored = reconciled.logs.find((l) => 'liftJobs' in l) as
          { liftJobs?: number; sendJobs?: number } | undefined;
        const swept = await world.h.ctx.db
          .selectFrom('reconcile_state')
          .select('restored_lift_jobs_total')
          .executeTakeFirstOrThrow();
        const problems = check(row, { sent: 2 * scale.recipients });
        if (!restored?.liftJobs && !swept.restored_lift_jobs_total)
          problems.push('reconcile restored no lift job for the scheduled release');
        return {
          row,
          problems,
          notes: {
            liftJobs: restored?.liftJobs,
            sendJobs: restored?.sendJobs,
            restoredBySweep: swept.restored_lift_jobs_total,
          },
        };
      });
    } finally {
      await redis.stop();
    }
  },
};

const databaseDown: Scenario = {
  name: 'PostgreSQL unreachable during sending',
  run: (scale) =>
    withWorld(scale, undefined, async (world) => {
      const list = await listOfSize(world.h, 'Database', scale.recipients);
      const database = new URL(world.env.DATABASE_URL!);
      const proxy = await startTcpProxy(Number(database.port || 5432), database.hostname);
      try {
        database.host = `127.0.0.1:${proxy.port}`;
        await world.startWorker({ DATABASE_URL: database.toString() });
        const startedAt = Date.now();
        const { id } = await releaseTo(world, list);
        await waitForReceived(world, id, Math.ceil(scale.recipients / 4));
        await outage(proxy, scale.databaseOutageMs);
        await waitForSent(world, [id]);
        const row = await measure(world, `PostgreSQL down ${scale.databaseOutageMs / 1000}s`, [id], startedAt);
        return { row, problems: check(row, { sent: scale.recipients }), notes: {} };
      } finally {
        await proxy.close();
      }
    }),
};

const unsubscribeBeforeSend: Scenario = {
  name: 'unsubscribe between fan-out and send',
  run: (scale) =>
    withWorld(scale, undefined, async (world) => {
      const list = await listOfSize(world.h, 'Unsubscribe', scale.recipients);
      // A busy relay holds every message back until the audience is frozen and some have left the list.
      world.smtp.respond = () => ({ code: 451, message: '4.3.0 busy' });
      await world.startWorker();
      const startedAt = Date.now();
      const { id } = await releaseTo(world, list);
      const { db } = world.h.ctx;
      await waitUntil(
        async () => {
          const release = await db
            .selectFrom('releases')
            .select('fanout_done_at')
            .where('id', '=', id)
            .executeTakeFirstOrThrow();
          return release.fanout_done_at !== null;
        },
        120_000,
        'the audience frozen',
      );
      const leaving = Math.floor(scale.recipients / 4);
      const { rows: left } = await sql<{ subscriber_id: number }>`
      UPDATE list_members SET status = 'unsubscribed', unsubscribed_at = now()
      WHERE list_id = ${list} AND subscriber_id IN (SELECT id FROM subscribers ORDER BY id LIMIT ${leaving})
      RETURNING subscriber_id`.execute(db);
      // A message already in the relay's hands when the unsubscribe lands may still go (it was sent
      // first); so the relay stays busy until none of theirs is in flight.
      await waitUntil(
        async () => {
          const { rows } = await sql<{ n: number }>`
        SELECT count(*)::int AS n FROM deliveries
        WHERE release_id = ${id} AND state = 'sending' AND subscriber_id = ANY(${left.map((r) => r.subscriber_id)}::bigint[])`.execute(
            db,
          );
          return rows[0]!.n === 0;
        },
        120_000,
        'no unsubscribed recipient in flight',
      );
      world.smtp.respond = undefined;
      await waitForSent(world, [id]);
      const row = await measure(world, 'unsubscribe before send', [id], startedAt);
      const problems = check(row, { sent: scale.recipients - leaving, skipped: leaving });
      const { rows } = await sql<{ n: number }>`
      SELECT count(*)::int AS n FROM deliveries d JOIN list_members m ON m.subscriber_id = d.subscriber_id AND m.list_id = d.list_id
      WHERE d.release_id = ${id} AND m.status = 'unsubscribed' AND d.state <> 'skipped'`.execute(db);
      if (rows[0]!.n > 0) problems.push(`${rows[0]!.n} unsubscribed recipients were not skipped`);
      return { row, problems, notes: {} };
    }),
};

/** A Postfix-written DSN (tests/fixtures/reports), addressed to a message's envelope sender. */
const POSTFIX_DSN = readFileSync(new URL('../fixtures/reports/postfix-550.eml', import.meta.url), 'utf8');

const bouncesDuringSend: Scenario = {
  name: 'bounces arrive while the release is sending',
  run: (scale) =>
    withWorld(scale, undefined, async (world) => {
      const list = await listOfSize(world.h, 'Bounces', scale.recipients);
      const bouncing = (i: number) => i % 5 === 4;
      // A real `presslift inbound` process takes the DSNs, as the bounce domain's MX would.
      const inboundPort = await freePort();
      const inbound = spawnPresslift(['inbound'], {
        ...world.env,
        INBOUND_HOST: '127.0.0.1',
        INBOUND_PORT: String(inboundPort),
        BOUNCE_DOMAIN: 'bounces.presslift.localhost',
      });
      try {
        await inbound.waitForLog('inbound SMTP listening');
        await world.startWorker({ BOUNCE_DOMAIN: 'bounces.presslift.localhost' });
        const startedAt = Date.now();
        const { id } = await releaseTo(world, list);
        const { db } = world.h.ctx;
        const transport = nodemailer.createTransport({
          host: '127.0.0.1',
          port: inboundPort,
          secure: false,
          ignoreTLS: true,
          pool: true,
          maxConnections: 2,
        });
        let retried = 0;
        let duringSend = 0;
        /** Mails one DSN as a relay would: a 451 (the acceptance not recorded yet) is tried again shortly. */
        const bounce = async (verp: string, recipient: string) => {
          const raw = POSTFIX_DSN.replaceAll('{{VERP}}', verp).replaceAll('{{RECIPIENT}}', recipient);
          for (;;) {
            try {
              await transport.sendMail({ envelope: { from: '', to: [verp] }, raw });
              const release = await db
                .selectFrom('releases')
                .select('status')
                .where('id', '=', id)
                .executeTakeFirstOrThrow();
              if (release.status === 'sending') duringSend += 1;
              return;
            } catch (error) {
              if ((error as { responseCode?: number }).responseCode !== 451) throw error;
              retried += 1;
              await new Promise((r) => setTimeout(r, 200));
            }
          }
        };
        // Each refused copy is bounced as soon as the destination has it, while the rest still go out.
        const bounced = new Set<string>();
        const pending: Array<Promise<void>> = [];
        const expected = Array.from({ length: scale.recipients }, (_, i) => i).filter(bouncing).length;
        await waitUntil(
          async () => {
            for (const message of receivedFor(world.smtp, id)) {
              const to = message.to[0]!;
              if (bouncing(readerIndex(to)) && !bounced.has(to)) {
                bounced.add(to);
                pending.push(bounce(message.from, to));
              }
            }
            return bounced.size === expected;
          },
          120_000,
          'every bouncing copy to arrive',
        );
        await Promise.all(pending);
        transport.close();
        await waitForSent(world, [id]);
        await waitUntil(
          async () => {
            const { rows } = await sql<{
              n: number;
            }>`SELECT count(*)::int AS n FROM deliveries WHERE release_id = ${id} AND state = 'bounced'`.execute(db);
            return rows[0]!.n === expected;
          },
          30_000,
          'every bounce applied',
        );
        const row = await measure(world, 'bounces during sending', [id], startedAt);
        const problems = check(row, { sent: scale.recipients - expected, bounced: expected });
        const { rows: suppressed } = await sql<{
          n: number;
        }>`SELECT count(*)::int AS n FROM suppressions WHERE source = 'dsn'`.execute(db);
        if (suppressed[0]!.n !== expected)
          problems.push(`${suppressed[0]!.n} addresses suppressed, expected ${expected}`);
        if (duringSend === 0) problems.push('no bounce arrived while the release was still sending');
        if (inbound.child.exitCode !== null) problems.push(`presslift inbound exited ${inbound.child.exitCode}`);
        return { row, problems, notes: { appliedWhileSending: duringSend, retriedAfter451: retried } };
      } finally {
        await killProcess(inbound);
      }
    }),
};

/** Faults of the processes and services around the workers. */
export const PROCESS_SCENARIOS: Scenario[] = [sigkill, sigterm, rollingDeploy, redisLost, databaseDown];
/** Faults and answers of the SMTP relay, and an unsubscribe or bounces racing the send. */
export const RELAY_SCENARIOS: Scenario[] = [
  relayDown,
  temporaryReplies,
  permanentReplies,
  hangingRelay,
  unsubscribeBeforeSend,
  bouncesDuringSend,
];
/** Every fault of issue 4. */
