import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInbound, type InboundServer } from '../../src/inbound/server.js';
import { verpDelivery } from '../../src/mail/verp.js';
import { listWith, releaseReaches, scheduleIn } from '../support/fixtures.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';
import { startPostfix, type Postfix } from '../support/postfix.js';
import { freePort } from '../support/processes.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

/**
 * The whole loop with real parts: the send worker hands each message to Debian's Postfix with a
 * signed VERP envelope sender; the destination refuses one recipient; Postfix itself writes the
 * delivery status notification and mails it to the VERP address, which its transport map sends to
 * `presslift inbound`; the delivery ends bounced and the address suppressed.
 */
let h: Harness;
let destination: TestSmtp;
let postfix: Postfix;
let inbound: InboundServer;
const BOUNCE_DOMAIN = 'bounces.presslift.test';

beforeAll(async () => {
  destination = await startSmtp();
  destination.respond = (rcpt) =>
    rcpt.startsWith('ghost@')
      ? { code: 550, message: '5.1.1 <ghost@desk.test>: Recipient address rejected: User unknown' }
      : undefined;
  const relayPort = await freePort();
  h = await createHarness({
    SMTP_URL: `smtp://127.0.0.1:${relayPort}`,
    MAIL_FROM: 'Newsroom <newsroom@news.presslift.test>',
    BOUNCE_DOMAIN,
  });
  inbound = await startInbound(h.ctx, 0, '127.0.0.1');
  postfix = await startPostfix({ 'desk.test': destination.port, [BOUNCE_DOMAIN]: inbound.port }, relayPort);
  await h.startWorkers();
}, 60_000);
afterAll(async () => {
  await h?.close();
  await postfix?.stop();
  await inbound?.close();
  await destination?.close();
});

describe('a bounce written by Postfix', () => {
  it('comes back to the signed envelope sender, bounces the delivery and suppresses the address', async () => {
    const list = await listWith(h, 'Desk', [
      { email: 'reader@desk.test', name: 'Reader' },
      { email: 'ghost@desk.test', name: 'Ghost' },
    ]);
    const { id } = await scheduleIn(h, [list], 1000);
    await releaseReaches(h, id, 'sent');
    // Postfix took both; the destination accepted one.
    await destination.waitFor(1);
    const arrived = destination.messages[0]!;
    expect(arrived.to).toEqual(['reader@desk.test']);
    const { rows: deliveries } = await sql<{ id: number; email: string }>`
      SELECT d.id, s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.release_id = ${id}`.execute(
      h.ctx.db,
    );
    const reader = deliveries.find((d) => d.email === 'reader@desk.test')!;
    const ghost = deliveries.find((d) => d.email === 'ghost@desk.test')!;
    // The envelope sender names the delivery and is signed; the From header is the newsroom's.
    expect(arrived.from).toMatch(new RegExp(`^bounces\\+${reader.id}-[0-9a-f]{16}@${BOUNCE_DOMAIN}$`));
    expect(verpDelivery(h.ctx.keys, arrived.from, BOUNCE_DOMAIN)).toBe(reader.id);
    expect(arrived.mail.from?.value[0]?.address).toBe('newsroom@news.presslift.test');

    const bounced = await waitUntil(
      async () => {
        const page = (await h.api('GET', `/api/releases/${id}/deliveries?state=bounced`)).json;
        return page.items.length > 0 && page;
      },
      30_000,
      `the DSN to reach presslift inbound\n${await postfix.log()}`,
    );
    expect(bounced.items).toHaveLength(1);
    expect(bounced.items[0]).toMatchObject({ id: ghost.id, email: 'ghost@desk.test', state: 'bounced' });
    expect(bounced.items[0].lastError).toMatch(/5\.1\.1.*User unknown/);

    const { rows: states } = await sql<{
      id: number;
      state: string;
    }>`SELECT id, state FROM deliveries WHERE release_id = ${id} ORDER BY id`.execute(h.ctx.db);
    expect(states).toEqual(
      [
        { id: reader.id, state: 'sent' },
        { id: ghost.id, state: 'bounced' },
      ].sort((a, b) => a.id - b.id),
    );
    const suppressions = (await h.api('GET', '/api/suppressions')).json.items;
    expect(suppressions).toHaveLength(1);
    expect(suppressions[0]).toMatchObject({ email: 'ghost@desk.test', source: 'dsn' });
    expect(suppressions[0].reason).toMatch(/^bounced: 5\.1\.1 .*User unknown/);
    expect(suppressions[0].details).toMatchObject({ deliveryId: ghost.id, releaseId: id, status: '5.1.1' });
    const { rows: events } = await sql<{
      kind: string;
      delivery_id: number;
      source: string;
    }>`SELECT kind, delivery_id, source FROM mail_events`.execute(h.ctx.db);
    expect(events).toEqual([{ kind: 'bounce', delivery_id: ghost.id, source: 'dsn' }]);
    const view = (await h.api('GET', `/api/releases/${id}`)).json;
    expect(view.counts).toMatchObject({ sent: 1, bounced: 1 });

    // The next release skips the suppressed address.
    const next = await scheduleIn(h, [list], 1000);
    await releaseReaches(h, next.id, 'sent');
    const { rows: later } = await sql<{ email: string; state: string; last_error: string | null }>`
      SELECT s.email, d.state, d.last_error FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.release_id = ${next.id} ORDER BY s.email`.execute(
      h.ctx.db,
    );
    expect(later).toMatchObject([
      { email: 'ghost@desk.test', state: 'skipped' },
      { email: 'reader@desk.test', state: 'sent' },
    ]);
    expect(later[0]!.last_error).toMatch(/^suppressed: bounced: 5\.1\.1/);
  }, 90_000);
});
