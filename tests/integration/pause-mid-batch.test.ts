import { describe, expect, it } from 'vitest';
import { deliveryCounts } from '../../src/db/releases.js';
import { listOfSize, releaseReaches, scheduleIn } from '../support/fixtures.js';
import { waitUntil } from '../support/harness.js';
import { useSmtpHarness } from '../support/smtp-harness.js';

// One large batch on one slow SMTP connection, so a pause lands in the middle of it.
const setup = useSmtpHarness({ SEND_BATCH_SIZE: '50', SMTP_POOL_SIZE: '1' });

describe('the emergency stop during a batch', () => {
  it('stops the batch between messages, queues the rest, and sends each of them once on resume', async () => {
    const { h, smtp } = setup;
    smtp.delayMs = 200;
    const list = await listOfSize(h, 'Big batch', 50);
    const { id } = await scheduleIn(h, [list], 2000);
    await smtp.waitFor(3, 30_000);
    expect((await h.api('POST', '/api/ops/pause')).status).toBe(200);

    // The batch ends early: nothing left in flight, the unsent rows queued again, a job waiting.
    const held = await waitUntil(
      async () => {
        const counts = await deliveryCounts(h.ctx.db, id);
        return counts.sending === 0 && counts;
      },
      30_000,
      'the batch to let go of its rows',
    );
    expect(held.sent).toBe(smtp.messages.length);
    expect(held.sent).toBeLessThan(50);
    expect(held.queued).toBe(50 - held.sent);
    // Every row handed back is in a waiting job (each batch the pause cut queued one for its rest).
    const waiting = await h.ctx.queues.send.getJobs(['waiting']);
    const queuedRows = await h.ctx.db
      .selectFrom('deliveries')
      .select('id')
      .where('release_id', '=', id)
      .where('state', '=', 'queued')
      .execute();
    expect(waiting.length).toBeGreaterThanOrEqual(1);
    expect(new Set(waiting.flatMap((job) => job.data.deliveryIds))).toEqual(new Set(queuedRows.map((r) => r.id)));
    const sentWhilePaused = smtp.messages.length;
    // The cut batch's job has finished, and both queues are paused in Redis (BullMQ's global pause):
    // no worker takes the waiting jobs until resume, so nothing more can arrive, however long we wait.
    await waitUntil(
      async () => (await h.ctx.queues.send.getActiveCount()) === 0,
      30_000,
      "the cut batch's job to finish",
    );
    expect(await h.ctx.queues.send.isPaused()).toBe(true);
    expect(await h.ctx.queues.lift.isPaused()).toBe(true);
    for (const job of waiting) expect(await job.getState()).toBe('waiting');
    expect(await deliveryCounts(h.ctx.db, id)).toMatchObject({ sent: held.sent, queued: held.queued, sending: 0 });
    expect(smtp.messages).toHaveLength(sentWhilePaused);

    smtp.delayMs = 0;
    expect((await h.api('POST', '/api/ops/resume')).status).toBe(200);
    const release = await releaseReaches(h, id, 'sent');
    expect(release.counts).toMatchObject({ sent: 50, queued: 0, sending: 0, failed: 0 });
    const recipients = smtp.messages.map((m) => m.to[0]);
    expect(recipients).toHaveLength(50);
    expect(new Set(recipients).size).toBe(50);
  });
});
