import { Redis } from 'ioredis';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { reconcileState } from '../../src/db/reconcile.js';
import { createMailer } from '../../src/mail/transport.js';
import { sweepOnce } from '../../src/pipeline/sweep.js';
import { listOfSize, releaseReaches, scheduleIn } from '../support/fixtures.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';
import { startRedisServer, type RedisServer } from '../support/redis-server.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

// The workers keep running while their own private Redis loses everything (FLUSHALL); only the
// standing sweep can bring the jobs back, since nothing restarts.
const INTERVAL_SECONDS = 1;
let redis: RedisServer;
let admin: Redis;
let smtp: TestSmtp;
let h: Harness;

beforeAll(async () => {
  redis = await startRedisServer();
  admin = new Redis(redis.url);
  smtp = await startSmtp();
  h = await createHarness({
    REDIS_URL: redis.url,
    SMTP_URL: smtp.url,
    RECONCILE_INTERVAL_SECONDS: String(INTERVAL_SECONDS),
    SEND_BATCH_SIZE: '2',
    SMTP_POOL_SIZE: '1',
    SEND_CONCURRENCY: '1',
  });
  await h.startWorkers();
});
afterAll(async () => {
  await h?.close();
  admin?.disconnect();
  await smtp?.close();
  await redis?.stop();
});

const messagesOf = (releaseId: number) =>
  smtp.messages.filter((m) => m.mail.messageId?.startsWith(`<release-${releaseId}.`));
const unique = (releaseId: number) => new Set(messagesOf(releaseId).map((m) => m.mail.messageId)).size;

describe('the standing sweep', () => {
  it('lifts a release whose job Redis lost while the workers kept running, within the interval plus a second', async () => {
    const list = await listOfSize(h, 'Flushed', 3, 'flushed.example');
    const { id, embargoAt } = await scheduleIn(h, [list], 4000);
    expect(await h.ctx.queues.lift.getJobs(['delayed'])).toHaveLength(1);
    await admin.flushall();
    expect(await h.ctx.queues.lift.getJobs(['delayed'])).toHaveLength(0);

    const sent = await releaseReaches(h, id, 'sent', 30_000);
    const release = await h.ctx.db
      .selectFrom('releases')
      .select(['lifted_at', 'status'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(release.lifted_at!.getTime() - embargoAt.getTime()).toBeLessThanOrEqual((INTERVAL_SECONDS + 1) * 1000);
    expect(release.lifted_at!.getTime()).toBeGreaterThanOrEqual(embargoAt.getTime());
    expect(sent.counts).toMatchObject({ sent: 3, queued: 0, sending: 0 });
    expect(unique(id)).toBe(3);
    expect(messagesOf(id)).toHaveLength(3);
    expect((await reconcileState(h.ctx.db)).restored_lift_jobs_total).toBeGreaterThanOrEqual(1);
  });

  it('restores the send jobs of deliveries Redis lost mid-send once, not on every sweep, and sends nobody twice', async () => {
    const list = await listOfSize(h, 'Slow', 24, 'slow.example');
    smtp.delayMs = 150;
    try {
      const before = await reconcileState(h.ctx.db);
      const { id } = await scheduleIn(h, [list], 500);
      // Sweeps run every second while twelve batches wait their turn behind one slow connection: none re-adds them.
      await waitUntil(async () => messagesOf(id).length >= 8, 30_000, 'a third of the messages');
      const lastSweep = (await reconcileState(h.ctx.db)).last_success_at!;
      await waitUntil(
        async () => ((await reconcileState(h.ctx.db)).last_success_at?.getTime() ?? 0) > lastSweep.getTime(),
        10_000,
        'another sweep',
      );
      const whileSending = await reconcileState(h.ctx.db);
      expect(whileSending.restored_send_jobs_total).toBe(before.restored_send_jobs_total);
      expect(whileSending.deliveries_without_job).toBe(0);

      await admin.flushall();
      await releaseReaches(h, id, 'sent', 60_000);
      const after = await reconcileState(h.ctx.db);
      const restored = after.restored_send_jobs_total - before.restored_send_jobs_total;
      expect(restored).toBeGreaterThan(0);
      // At most one job per lost batch of two, not one per batch per sweep.
      expect(restored).toBeLessThanOrEqual(12);
      expect(unique(id)).toBe(24);
      expect(messagesOf(id)).toHaveLength(24);
      const { rows } = await sql<{ state: string; n: number }>`
        SELECT state, count(*)::int AS n FROM deliveries WHERE release_id = ${id} GROUP BY state`.execute(h.ctx.db);
      expect(rows).toEqual([{ state: 'sent', n: 24 }]);
    } finally {
      smtp.delayMs = 0;
    }
  });

  it('pauses Redis again after it lost the pause', async () => {
    expect((await h.api('POST', '/api/ops/pause')).status).toBe(200);
    await admin.flushall();
    await waitUntil(
      async () => (await h.ctx.queues.send.isPaused()) && (await h.ctx.queues.lift.isPaused()),
      (INTERVAL_SECONDS + 5) * 1000,
      'the queues paused again',
    );
    expect((await h.api('POST', '/api/ops/resume')).status).toBe(200);
  });

  it('is led by one process at a time', async () => {
    const mailer = createMailer(h.config);
    // Another process holds the leadership for as long as this transaction is open.
    let release!: () => void;
    const held = new Promise<void>((resolve) => (release = resolve));
    let holding!: () => void;
    const holds = new Promise<void>((resolve) => (holding = resolve));
    const leader = h.ctx.db.transaction().execute(async (tx) => {
      await sql`SELECT pg_advisory_xact_lock(hashtext('presslift:reconcile'))`.execute(tx);
      holding();
      await held;
    });
    await holds;
    expect(await sweepOnce(h.ctx, mailer)).toEqual({ led: false, errors: [] });
    release();
    await leader;
    expect(await sweepOnce(h.ctx, mailer)).toMatchObject({ led: true, errors: [] });
    mailer.close();
  });
});
