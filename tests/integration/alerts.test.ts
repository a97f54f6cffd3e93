import { UnrecoverableError, Worker } from 'bullmq';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { raiseAlert } from '../../src/db/alerts.js';
import { liftJobId } from '../../src/releases/jobs.js';
import { createMailer, type Mailer } from '../../src/mail/transport.js';
import { dispatchAlerts } from '../../src/alerts/staff-alerts.js';
import { sweepOnce } from '../../src/pipeline/sweep.js';
import { LIFT_QUEUE } from '../../src/queue/index.js';
import { createRedis } from '../../src/queue/redis.js';
import type { RunningWorkers } from '../../workers/index.js';
import { listWith, releaseReaches, scheduleIn } from '../support/fixtures.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';
import { startHttpReceiver, type HttpReceiver } from '../support/http-receiver.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

const TITLE_WORDS = /Quantum|sensor|brain/i;
let h: Harness;
let smtp: TestSmtp;
let chat: HttpReceiver;
let mailer: Mailer;
let workers: RunningWorkers | undefined;

beforeAll(async () => {
  chat = await startHttpReceiver();
  smtp = await startSmtp();
  h = await createHarness({
    SMTP_URL: smtp.url,
    ALERT_EMAILS: 'ops@example.org, oncall@example.org',
    ALERT_WEBHOOK_URL: `${chat.url}/slack`,
    LIFT_LATE_ALERT_SECONDS: '1',
    RECONCILE_INTERVAL_SECONDS: '3600',
    SEND_ATTEMPTS: '2',
  });
  mailer = createMailer(h.config);
});
afterAll(async () => {
  mailer?.close();
  await h?.close();
  await smtp?.close();
  await chat?.close();
});

const alertMails = () => smtp.messages.filter((m) => m.mail.subject?.startsWith('[Presslift]'));
const chatTexts = () => chat.requests.map((r) => (JSON.parse(r.body) as { text: string }).text);
const alertRows = (kind: string) => h.ctx.db.selectFrom('alerts').selectAll().where('kind', '=', kind).execute();
const sweep = () => sweepOnce(h.ctx, mailer);

/** The alert reached both people and the chat room, exactly once, with ids and a link and nothing of any release's text. */
async function expectDeliveredOnce(kind: string, summary: RegExp) {
  const [alert, ...more] = (await alertRows(kind)).filter((a) => summary.test(a.summary));
  expect(alert).toBeDefined();
  expect(more).toHaveLength(0);
  expect(alert).toMatchObject({ state: 'sent', email_sent_at: expect.any(Date), webhook_sent_at: expect.any(Date) });
  expect(alert!.summary).toMatch(summary);
  const mails = alertMails().filter((m) => m.mail.messageId === `<alert-${alert!.id}@presslift.localhost>`);
  expect(mails).toHaveLength(1);
  expect(mails[0]!.to.sort()).toEqual(['oncall@example.org', 'ops@example.org']);
  expect(mails[0]!.mail.subject).toBe(`[Presslift] ${alert!.summary}`);
  const link = alert!.release_id
    ? `https://news.example.org/console/releases/${alert!.release_id}`
    : 'https://news.example.org/console/operations';
  expect(mails[0]!.mail.text).toContain(link);
  const texts = chatTexts().filter((t) => t.includes(alert!.summary));
  expect(texts).toHaveLength(1);
  expect(texts[0]).toContain(link);
  for (const text of [mails[0]!.raw, texts[0]!]) expect(text).not.toMatch(TITLE_WORDS);
  return alert!;
}

describe('staff alerts', () => {
  it('tell people a lift failed for good, once, and the sweep retries it', async () => {
    const list = await listWith(h, 'Failing', [{ email: 'f@alerts.example' }]);
    const { id } = await scheduleIn(h, [list], 300);
    const release = (await h.api('GET', `/api/releases/${id}`)).json;
    // A lift worker that fails the job for good (no worker of Presslift's runs yet).
    const failing = new Worker(
      LIFT_QUEUE,
      async () => {
        throw new UnrecoverableError('could not reach PostgreSQL');
      },
      { connection: createRedis(h.config, 'worker'), prefix: h.config.QUEUE_PREFIX },
    );
    await waitUntil(
      async () => (await h.ctx.queues.lift.getJobState(liftJobId(id, release.version))) === 'failed',
      15_000,
      'the lift job failed',
    );
    await failing.close();

    await sweep();
    await expectDeliveredOnce('lift-failed', new RegExp(`^The lift of release #${id} failed for good$`));
    // Retrying it is a restored job, and says so.
    await expectDeliveredOnce('reconcile-restored', /^Reconcile restored lost jobs: 1 lift, 0 send/);
    expect(await h.ctx.queues.lift.getJobState(liftJobId(id, release.version))).not.toBe('failed');
    workers = await h.startWorkers();
    await releaseReaches(h, id, 'sent');
  });

  it('tell people a lift is late while it is held, once, and not again when it lifts late', async () => {
    const list = await listWith(h, 'Held', [{ email: 'h@alerts.example' }]);
    expect((await h.api('POST', '/api/ops/pause')).status).toBe(200);
    const { id, embargoAt } = await scheduleIn(h, [list], 300);
    await waitUntil(
      async () =>
        (
          await h.ctx.db
            .selectFrom('releases')
            .select(sql<boolean>`send_at < now() - interval '2 seconds'`.as('late'))
            .where('id', '=', id)
            .executeTakeFirstOrThrow()
        ).late,
      15_000,
      'the lift overdue',
    );
    await sweep();
    await sweep();
    const alert = await expectDeliveredOnce(
      'lift-late',
      new RegExp(`^Release #${id} has not lifted: its send instant passed \\d+ s ago$`),
    );
    expect(alert.details).toMatchObject({ releaseId: id, sendAt: embargoAt.toISOString() });

    expect((await h.api('POST', '/api/ops/resume')).status).toBe(200);
    await releaseReaches(h, id, 'sent');
    await sweep();
    // (The release of the test before may have lifted late too, and have its own alert.)
    expect((await alertRows('lift-late')).filter((a) => a.release_id === id)).toHaveLength(1);
  });

  it('tell people a release finished with failed deliveries', async () => {
    const list = await listWith(h, 'Bouncing', [{ email: 'ok@alerts.example' }, { email: 'nobody@alerts.example' }]);
    smtp.respond = (rcpt) =>
      rcpt === 'nobody@alerts.example' ? { code: 550, message: '5.1.1 no such mailbox' } : undefined;
    const { id } = await scheduleIn(h, [list], 300);
    await releaseReaches(h, id, 'sent');
    smtp.respond = undefined;
    await sweep();
    await sweep();
    await expectDeliveredOnce('release-failed', new RegExp(`^Release #${id} finished with 1 failed deliveries of 2$`));
  });

  it('tell people sending has been paused for longer than PAUSED_ALERT_MINUTES', async () => {
    expect((await h.api('POST', '/api/ops/pause')).status).toBe(200);
    await sweep();
    expect(await alertRows('sending-paused')).toHaveLength(0);
    const pausedAt = new Date(Date.now() - 31 * 60_000).toISOString();
    await sql`UPDATE settings SET value = jsonb_set(value, '{at}', to_jsonb(${pausedAt}::text)) WHERE key = 'sending_paused'`.execute(
      h.ctx.db,
    );
    await sweep();
    await sweep();
    await expectDeliveredOnce('sending-paused', /^Sending has been paused for 31 minutes \(by token:test-admin\)$/);
    expect((await h.api('POST', '/api/ops/resume')).status).toBe(200);
  });

  it('tell people the relay has refused every message for longer than RELAY_REFUSING_ALERT_MINUTES', async () => {
    const list = await listWith(h, 'Refused', [{ email: 'r@alerts.example' }]);
    smtp.respond = (rcpt) =>
      rcpt === 'r@alerts.example' ? { code: 451, message: '4.3.0 try again later' } : undefined;
    const { id } = await scheduleIn(h, [list], 300);
    // The worker reports the refusals; the alert waits for their run to last ten minutes.
    const health = await waitUntil(
      async () => {
        const row = await h.ctx.db.selectFrom('relay_health').selectAll().executeTakeFirstOrThrow();
        return row.refusing_since !== null && row;
      },
      15_000,
      'the relay seen refusing',
    );
    expect(health.last_reply).toMatch(/451/);
    await sql`UPDATE relay_health SET refusing_since = now() - interval '11 minutes', last_refused_at = now()`.execute(
      h.ctx.db,
    );
    await sweep();
    await expectDeliveredOnce('relay-refusing', /^The mail relay has refused every message for 11 minutes$/);
    smtp.respond = undefined;
    await releaseReaches(h, id, 'sent');
  });

  it('tell people reconcile restored jobs Redis had lost', async () => {
    const list = await listWith(h, 'Restored', [{ email: 'x@alerts.example' }]);
    const { id } = await scheduleIn(h, [list], 60_000);
    const keys = await h.ctx.redis.keys(`${h.config.QUEUE_PREFIX}:lift:*`);
    await h.ctx.redis.del(...keys);
    const before = (await alertRows('reconcile-restored')).length;
    const swept = await sweep();
    expect(swept.reconciled?.liftJobs).toBe(1);
    expect(await alertRows('reconcile-restored')).toHaveLength(before + 1);
    const [latest] = (await alertRows('reconcile-restored')).sort((a, b) => b.id - a.id);
    expect(latest).toMatchObject({
      state: 'sent',
      summary: 'Reconcile restored lost jobs: 1 lift, 0 send (0 deliveries), 0 webhook',
    });
    expect(chatTexts().filter((t) => t.includes(`${latest!.raised_at.toISOString()}`))).toHaveLength(1);
    expect((await h.api('POST', `/api/releases/${id}/cancel`, { reason: 'done' })).status).toBe(200);
  });

  it('send at most ALERT_MAX_PER_HOUR, then one digest of what was held back', async () => {
    await workers?.close();
    const limited = { ...h.ctx, config: { ...h.config, ALERT_MAX_PER_HOUR: 2 } };
    const sentBefore = (await h.ctx.db.selectFrom('alerts').select('id').where('state', '=', 'sent').execute()).length;
    // Everything sent earlier in this file counts against the hour: move it back two hours.
    await sql`UPDATE alerts SET sent_at = sent_at - interval '2 hours' WHERE sent_at IS NOT NULL`.execute(h.ctx.db);
    for (let i = 1; i <= 5; i++)
      await raiseAlert(h.ctx.db, { key: `test:${i}`, kind: 'test', releaseId: null, summary: `Test alert ${i}` });
    expect(await dispatchAlerts(limited, mailer)).toMatchObject({ sent: 2, held: 3 });
    expect(await dispatchAlerts(limited, mailer)).toMatchObject({ sent: 0, held: 0 });
    expect((await alertRows('test')).map((a) => a.state).sort()).toEqual(['held', 'held', 'held', 'sent', 'sent']);

    // An hour later the digest counts the three held alerts, in one message.
    await sql`UPDATE alerts SET sent_at = sent_at - interval '2 hours' WHERE sent_at IS NOT NULL`.execute(h.ctx.db);
    expect(await dispatchAlerts(limited, mailer)).toMatchObject({ sent: 1, held: 0 });
    await expectDeliveredOnce('alerts-held', /^3 alerts were held back by the limit of 2 an hour \(3 test\)$/);
    expect(await dispatchAlerts(limited, mailer)).toMatchObject({ sent: 0 });
    expect((await h.ctx.db.selectFrom('alerts').select('id').where('state', '=', 'sent').execute()).length).toBe(
      sentBefore + 3,
    );
  });
});
