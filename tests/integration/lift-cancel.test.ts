import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRelease, listWith, releaseReaches, releaseStatus, scheduleIn } from '../support/fixtures.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';
import { instantPassed, queuesSettled } from '../support/queues.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

let h: Harness;
let smtp: TestSmtp;

beforeAll(async () => {
  smtp = await startSmtp();
  // One send job holds a whole release on two connections, so only the send worker itself can stop
  // the messages it has claimed: the cancel operation cancels waiting rows only.
  h = await createHarness({ SMTP_URL: smtp.url, SEND_BATCH_SIZE: '50', SMTP_POOL_SIZE: '2' });
  await h.startWorkers();
});
afterEach(() => {
  smtp.messages.length = 0;
  smtp.delayMs = 0;
});
afterAll(async () => {
  await h?.close();
  await smtp?.close();
});

const people = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => ({ email: `${prefix}${i}@example.org` }));
const emails = (prefix: string, count: number) => people(prefix, count).map((p) => p.email);
const received = (prefix: string) => smtp.messages.filter((m) => m.to[0]!.startsWith(prefix));
const recipients = (prefix: string) =>
  received(prefix)
    .map((m) => m.to[0])
    .sort();
const audit = async (id: number) =>
  (await h.api('GET', `/api/releases/${id}/audit`)).json.items as Array<{
    action: string;
    actor: string;
    at: string;
    details: Record<string, any>;
  }>;

describe('lifting early', () => {
  it('sends now, keeps the planned embargo for the record, and audits the reason', async () => {
    const list = await listWith(h, 'Leaked', people('leak', 3));
    const { id, embargoAt } = await scheduleIn(h, [list], 60_000);
    const askedAt = Date.now();
    const lifted = await h.api('POST', `/api/releases/${id}/lift`, { reason: 'The journal published early' });
    expect(lifted.status).toBe(200);
    expect(lifted.json).toMatchObject({
      status: 'scheduled',
      embargoAt: embargoAt.toISOString(),
      liftRequestedAt: expect.any(String),
    });
    expect(lifted.json.sendAt).toBe(lifted.json.liftRequestedAt);
    expect(lifted.json.embargo.utc).toBe(embargoAt.toISOString());

    const sent = await releaseReaches(h, id, 'sent');
    expect(recipients('leak')).toEqual(emails('leak', 3));
    for (const message of received('leak')) {
      expect(message.startedAt).toBeGreaterThanOrEqual(askedAt);
      expect(message.startedAt).toBeLessThan(embargoAt.getTime());
    }
    expect(sent.embargoAt).toBe(embargoAt.toISOString());
    expect(sent.liftLagMs).toBeGreaterThanOrEqual(0);
    // Staff's lift, then the worker's lift at the instant and the completion, each audited.
    const trail = await audit(id);
    expect(trail.slice(-3).map((e) => [e.action, e.actor])).toEqual([
      ['lift', 'token:test-admin'],
      ['lifted', 'system'],
      ['completed', 'system'],
    ]);
    expect(trail.at(-3)).toMatchObject({
      action: 'lift',
      actor: 'token:test-admin',
      details: {
        reason: 'The journal published early',
        embargoBefore: embargoAt.toISOString(),
        embargoAfter: embargoAt.toISOString(),
      },
    });
  });

  it('lifts a draft straight away', async () => {
    const list = await listWith(h, 'Straight', people('straight', 2));
    const draft = await createRelease(h, [list], new Date(Date.now() + 3_600_000));
    expect((await h.api('POST', `/api/releases/${draft.id}/lift`, { reason: 'Statement for today' })).status).toBe(200);
    await releaseReaches(h, draft.id, 'sent');
    expect(recipients('straight')).toEqual(emails('straight', 2));
  });

  it('requires a reason, and refuses a release already sent', async () => {
    const list = await listWith(h, 'Reasonless', people('reasonless', 1));
    const { id } = await scheduleIn(h, [list], 60_000);
    for (const body of [undefined, {}, { reason: '' }, { reason: 'two\nlines' }]) {
      const answer = await h.api('POST', `/api/releases/${id}/lift`, body);
      expect(answer.status).toBe(400);
      expect(answer.json.message).toMatch(/^reason:/);
    }
    expect(await releaseStatus(h, id)).toMatchObject({ status: 'scheduled', version: 1, liftRequestedAt: null });

    await h.api('POST', `/api/releases/${id}/lift`, { reason: 'now' });
    await releaseReaches(h, id, 'sent');
    const again = await h.api('POST', `/api/releases/${id}/lift`, { reason: 'again' });
    expect(again.status).toBe(409);
    expect((await h.api('POST', `/api/releases/${id}/cancel`, { reason: 'too late' })).status).toBe(409);
  });
});

describe('cancelling', () => {
  it('before the lift sends nothing, and the audit tells the whole story', async () => {
    const list = await listWith(h, 'Spiked', people('spiked', 2));
    const first = new Date(Math.ceil((Date.now() + 60_000) / 1000) * 1000);
    const draft = await createRelease(h, [list], first);
    await h.api('PATCH', `/api/releases/${draft.id}`, { summary: 'Now with a summary' });
    await h.api('POST', `/api/releases/${draft.id}/schedule`);
    const second = new Date(Math.ceil((Date.now() + 1500) / 1000) * 1000);
    await h.api('PATCH', `/api/releases/${draft.id}`, { embargo: { at: second.toISOString() } });
    await h.api('POST', `/api/releases/${draft.id}/unschedule`);
    await h.api('POST', `/api/releases/${draft.id}/schedule`);
    const cancelled = await h.api('POST', `/api/releases/${draft.id}/cancel`, {
      reason: 'The minister withdrew the plan',
    });
    expect(cancelled.status).toBe(200);
    expect(cancelled.json).toMatchObject({
      status: 'cancelled',
      cancelledAt: expect.any(String),
      counts: { queued: 0, sent: 0 },
    });

    // The instant has passed, and every job due by it (a lift job of any version the cancel missed)
    // has run, with whatever send jobs it queued: a message would be at the SMTP server now.
    await instantPassed(second);
    await queuesSettled(h.ctx, second);
    expect(received('spiked')).toHaveLength(0);
    expect((await h.api('GET', `/api/releases/${draft.id}/deliveries`)).json.items).toHaveLength(0);
    expect(await releaseStatus(h, draft.id)).toMatchObject({
      status: 'cancelled',
      liftedAt: null,
      counts: { queued: 0, sending: 0, sent: 0 },
    });

    const entries = await audit(draft.id);
    expect(entries.map((e) => e.action)).toEqual([
      'create',
      'edit',
      'schedule',
      'reschedule',
      'unschedule',
      'schedule',
      'cancel',
    ]);
    for (const entry of entries) {
      expect(entry.actor).toBe('token:test-admin');
      expect(Number.isNaN(Date.parse(entry.at))).toBe(false);
      expect(entry.details).toHaveProperty('embargoBefore');
      expect(entry.details).toHaveProperty('embargoAfter');
    }
    expect(entries[0]!.details).toMatchObject({ embargoBefore: null, embargoAfter: first.toISOString() });
    expect(entries[3]!.details).toMatchObject({
      embargoBefore: first.toISOString(),
      embargoAfter: second.toISOString(),
    });
    expect(entries[6]!.details).toMatchObject({
      reason: 'The minister withdrew the plan',
      embargoAfter: second.toISOString(),
    });
  });

  it('mid-send stops every message not yet handed to SMTP; the release ends cancelled with its counts', async () => {
    smtp.delayMs = 300; // a slow relay holds each message
    const list = await listWith(h, 'Halted', people('halt', 12));
    const { id } = await scheduleIn(h, [list], 1200);
    await smtp.waitFor(2);
    const cancelled = await h.api('POST', `/api/releases/${id}/cancel`, { reason: 'Wrong figures in the release' });
    expect(cancelled.status).toBe(200);
    expect(cancelled.json.status).toBe('cancelled');

    const settled = await waitUntil(
      async () => {
        const release = await releaseStatus(h, id);
        return release.counts.queued + release.counts.sending === 0 && release;
      },
      10_000,
      'every delivery settled',
    );
    // Every send job has finished: anything handed to the relay has arrived.
    await queuesSettled(h.ctx);
    const final = await releaseStatus(h, id);
    expect(final.status).toBe('cancelled');
    expect(final.counts).toEqual(settled.counts);
    expect(final.counts.sent + final.counts.cancelled).toBe(12);
    expect(final.counts.cancelled).toBeGreaterThan(0);

    // What arrived is exactly what is recorded as sent; no cancelled delivery reached anyone.
    const sent = (await h.api('GET', `/api/releases/${id}/deliveries?state=sent`)).json.items
      .map((d: { email: string }) => d.email)
      .sort();
    const stopped = (await h.api('GET', `/api/releases/${id}/deliveries?state=cancelled`)).json.items.map(
      (d: { email: string }) => d.email,
    );
    expect(recipients('halt')).toEqual(sent);
    for (const email of stopped) expect(recipients('halt')).not.toContain(email);
    expect((await audit(id)).at(-1)).toMatchObject({
      action: 'cancel',
      details: { reason: 'Wrong figures in the release' },
    });
  });
});
