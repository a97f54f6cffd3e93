import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/db/accounts.js';
import { createSession } from '../../src/db/sessions.js';
import { createApiToken } from '../../src/db/tokens.js';
import { verifyWebhook, SIGNATURE_HEADER } from '../../src/integrations/signature.js';
import { createMailer } from '../../src/mail/transport.js';
import { sweepOnce } from '../../src/pipeline/sweep.js';
import { listWith, releaseReaches, scheduleIn } from '../support/fixtures.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';
import { startHttpReceiver, type HttpReceiver, type ReceivedRequest } from '../support/http-receiver.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

let h: Harness;
let smtp: TestSmtp;
let receiver: HttpReceiver;
let endpoint: { id: number; secret: string };

beforeAll(async () => {
  receiver = await startHttpReceiver();
  smtp = await startSmtp();
  h = await createHarness({ SMTP_URL: smtp.url, WEBHOOK_BACKOFF_MS: '100', RECONCILE_INTERVAL_SECONDS: '3600' });
  await h.startWorkers();
  const created = await h.api('POST', '/api/webhooks', {
    url: `${receiver.url}/hooks/presslift`,
    events: ['release.scheduled', 'release.lifted', 'release.sent', 'release.cancelled', 'delivery.failed'],
    description: 'Newsroom CMS',
  });
  expect(created.status).toBe(201);
  endpoint = created.json;
});
afterAll(async () => {
  await h?.close();
  await smtp?.close();
  await receiver?.close();
});

const bodies = () =>
  receiver.requests.map(
    (r) =>
      ({ ...JSON.parse(r.body), request: r }) as {
        id: number;
        type: string;
        data: Record<string, any>;
        request: ReceivedRequest;
      },
  );
const eventsOf = (releaseId: number, type: string) =>
  bodies().filter((b) => b.type === type && b.data.releaseId === releaseId);

describe('integration webhooks', () => {
  it('are refused to anyone but an admin, and name the field at fault', async () => {
    const editor = await createApiToken(h.ctx.db, {
      name: 'editor',
      role: 'editor',
      ownerAccountId: null,
      createdBy: 'cli:test',
    });
    const asEditor = await h.api('GET', '/api/webhooks', undefined, { authorization: `Bearer ${editor.token}` });
    expect(asEditor.status).toBe(403);
    const ftp = await h.api('POST', '/api/webhooks', { url: 'ftp://cms.example.org/', events: ['release.sent'] });
    expect(ftp.status).toBe(400);
    expect(ftp.json.message).toMatch(/^url: /);
    const bogus = await h.api('POST', '/api/webhooks', { url: 'https://cms.example.org/', events: ['release.bogus'] });
    expect(bogus.status).toBe(400);
    expect(bogus.json.message).toMatch(/^events\.0: /);
    const listed = await h.api('GET', '/api/webhooks');
    expect(listed.json.items).toHaveLength(1);
    expect(listed.body).not.toContain(endpoint.secret);
    expect(endpoint.secret).toMatch(/^whsec_/);
  });

  it('announce a release from scheduling to sent, signed, with ids only before the lift and the public URL after', async () => {
    const list = await listWith(h, 'Hooked', [{ email: 'ok@hooks.example' }, { email: 'gone@hooks.example' }]);
    smtp.respond = (rcpt) =>
      rcpt === 'gone@hooks.example' ? { code: 550, message: '5.1.1 no such mailbox' } : undefined;
    const { id } = await scheduleIn(h, [list], 1500);
    await releaseReaches(h, id, 'sent');
    await waitUntil(
      async () =>
        ['release.scheduled', 'release.lifted', 'release.sent', 'delivery.failed'].every(
          (type) => eventsOf(id, type).length === 1,
        ),
      30_000,
      'four events',
    );
    const release = (await h.api('GET', `/api/releases/${id}`)).json;

    for (const body of bodies().filter((b) => b.data.releaseId === id)) {
      const { request } = body;
      expect(request.path).toBe('/hooks/presslift');
      expect(request.headers['content-type']).toBe('application/json');
      expect(request.headers['presslift-event']).toBe(body.type);
      expect(
        verifyWebhook(
          endpoint.secret,
          String(request.headers[SIGNATURE_HEADER.toLowerCase()]),
          request.body,
          Math.floor(Date.now() / 1000),
        ),
      ).toBe(true);
      expect(
        verifyWebhook(
          endpoint.secret,
          String(request.headers[SIGNATURE_HEADER.toLowerCase()]),
          `${request.body} `,
          Math.floor(Date.now() / 1000),
        ),
      ).toBe(false);
    }
    const [scheduled] = eventsOf(id, 'release.scheduled');
    expect(scheduled!.data).toEqual({
      releaseId: id,
      version: release.version,
      sendAt: expect.any(String),
      embargoAt: expect.any(String),
    });
    // Before the lift: nothing of the text, not even the slug made from the title.
    expect(scheduled!.request.body).not.toMatch(/Quantum|sensor/i);
    expect(scheduled!.request.body).not.toContain(release.slug);

    const [lifted] = eventsOf(id, 'release.lifted');
    expect(lifted!.data).toMatchObject({
      releaseId: id,
      url: `https://news.example.org/releases/${release.slug}`,
      liftedAt: expect.any(String),
    });
    const [sent] = eventsOf(id, 'release.sent');
    expect(sent!.data).toMatchObject({
      releaseId: id,
      url: `https://news.example.org/releases/${release.slug}`,
      counts: { sent: 1, failed: 1 },
    });
    const [failed] = eventsOf(id, 'delivery.failed');
    expect(failed!.data).toMatchObject({
      releaseId: id,
      deliveryId: expect.any(Number),
      subscriberId: expect.any(Number),
      phase: 'lift',
      reply: expect.stringContaining('550'),
    });

    const { rows } = await h.ctx.db
      .selectFrom('webhook_deliveries')
      .select(['state', 'attempts', 'last_status'])
      .execute()
      .then((r) => ({ rows: r }));
    expect(rows.every((r) => r.state === 'delivered' && r.attempts === 1 && r.last_status === 200)).toBe(true);
    smtp.respond = undefined;
  });

  it('retry with backoff until the endpoint answers 2xx, and show its last response to admins', async () => {
    const list = await listWith(h, 'Retried', [{ email: 'r@hooks.example' }]);
    const { id } = await scheduleIn(h, [list], 60_000);
    let refusals = 0;
    receiver.answer = (request) => (request.body.includes('"release.cancelled"') && refusals++ < 2 ? 503 : 200);
    expect((await h.api('POST', `/api/releases/${id}/cancel`, { reason: 'wrong list' })).status).toBe(200);
    await waitUntil(async () => eventsOf(id, 'release.cancelled').length === 3, 30_000, 'three attempts');
    const cancelled = eventsOf(id, 'release.cancelled');
    // The same event each time, signed anew.
    expect(new Set(cancelled.map((c) => c.id)).size).toBe(1);
    expect(cancelled[2]!.data).toEqual({
      releaseId: id,
      version: expect.any(Number),
      cancelledAt: expect.any(String),
      lifted: false,
    });
    const deliveries = await waitUntil(
      async () => {
        const answer = await h.api('GET', `/api/webhooks/${endpoint.id}/deliveries`);
        const item = answer.json.items.find((d: { eventId: number }) => d.eventId === cancelled[0]!.id);
        return item?.state === 'delivered' && item;
      },
      10_000,
      'the delivery recorded',
    );
    expect(deliveries).toMatchObject({ type: 'release.cancelled', attempts: 3, lastStatus: 200 });

    const account = await createAccount(h.ctx.db, 'admin@hooks.example', 'admin', 'scrypt$x');
    const session = await createSession(h.ctx.db, account.id, 1);
    const page = await h.app.inject({
      method: 'GET',
      url: '/console/webhooks',
      headers: { cookie: `presslift_session=${session.token}` },
    });
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(`${receiver.url}/hooks/presslift`);
    expect(page.body).toMatch(/data-last-status>200</);
    expect(page.body).not.toContain(endpoint.secret);
    receiver.answer = () => 200;
  });

  it('keep every event in PostgreSQL, so a webhook job Redis lost is sent after the sweep restores it', async () => {
    const list = await listWith(h, 'Lost', [{ email: 'l@hooks.example' }]);
    receiver.answer = () => 503;
    const { id } = await scheduleIn(h, [list], 60_000);
    await waitUntil(async () => eventsOf(id, 'release.scheduled').length >= 2, 30_000, 'two refused attempts');
    // Redis loses the webhook queue (the event and its delivery row are in PostgreSQL).
    const keys = await h.ctx.redis.keys(`${h.config.QUEUE_PREFIX}:webhook:*`);
    await h.ctx.redis.del(...keys);
    receiver.answer = () => 200;
    // As if the job had been lost a while ago: reconcile leaves rows queued in the last seconds alone.
    await h.ctx.db
      .updateTable('webhook_deliveries')
      .set({ queued_at: new Date(Date.now() - 60_000) })
      .where('state', '=', 'pending')
      .execute();
    const mailer = createMailer(h.config);
    const swept = await sweepOnce(h.ctx, mailer);
    mailer.close();
    expect(swept.reconciled?.webhookJobs).toBe(1);
    await waitUntil(
      async () => {
        const row = await h.ctx.db
          .selectFrom('webhook_deliveries as w')
          .innerJoin('events as e', 'e.id', 'w.event_id')
          .select('w.state')
          .where('e.release_id', '=', id)
          .where('e.type', '=', 'release.scheduled')
          .executeTakeFirst();
        return row?.state === 'delivered';
      },
      30_000,
      'the restored delivery',
    );
  });

  it('write no event nobody subscribed to, and stop sending to a removed endpoint', async () => {
    expect((await h.api('DELETE', `/api/webhooks/${endpoint.id}`)).status).toBe(200);
    const before = await h.ctx.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    const list = await listWith(h, 'Quiet', [{ email: 'q@hooks.example' }]);
    const { id } = await scheduleIn(h, [list], 500);
    await releaseReaches(h, id, 'sent');
    const after = await h.ctx.db
      .selectFrom('events')
      .select((eb) => eb.fn.countAll<number>().as('n'))
      .executeTakeFirstOrThrow();
    expect(after.n).toBe(before.n);
    expect(eventsOf(id, 'release.sent')).toHaveLength(0);
  });
});
