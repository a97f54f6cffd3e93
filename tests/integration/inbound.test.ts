import { readFileSync } from 'node:fs';
import { sql } from 'kysely';
import nodemailer from 'nodemailer';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startInbound, type InboundServer } from '../../src/inbound/server.js';
import { signUnsubscribeToken } from '../../src/mail/unsubscribe-token.js';
import { verpAddress } from '../../src/mail/verp.js';
import { Keyring } from '../../src/signing.js';
import { listWith, releaseReaches, scheduleIn } from '../support/fixtures.js';
import { createHarness, type Harness } from '../support/harness.js';
import { freePort, spawnPresslift } from '../support/processes.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

/**
 * `presslift inbound` spoken to over SMTP: DSNs that Postfix wrote on this machine (saved as
 * fixtures, with the addresses left as slots), complaints written after RFC 5965's example, and
 * mails to the List-Unsubscribe mailto.
 */
let h: Harness;
let smtp: TestSmtp;
let inbound: InboundServer;
const BOUNCE_DOMAIN = 'bounces.news.example.org';
const UNSUBSCRIBE = 'leave@bounces.news.example.org';
let science: number;
let health: number;
const delivery: Record<string, { id: number; subscriberId: number }> = {};
let releaseId: number;

beforeAll(async () => {
  smtp = await startSmtp();
  h = await createHarness({
    SMTP_URL: smtp.url,
    BOUNCE_DOMAIN,
    UNSUBSCRIBE_MAILTO: UNSUBSCRIBE,
    SOFT_BOUNCE_LIMIT: '2',
    INBOUND_MAX_BYTES: '200000',
  });
  inbound = await startInbound(h.ctx, 0, '127.0.0.1');
  await h.startWorkers();
  const people = ['angry', 'forged', 'soft', 'patient', 'leaver', 'ghost', 'racing', 'calm'].map((name) => ({
    email: `${name}@example.org`,
    name,
  }));
  science = await listWith(h, 'Science', people);
  health = await listWith(h, 'Health', [{ email: 'angry@example.org' }, { email: 'leaver@example.org' }]);
  ({ id: releaseId } = await scheduleIn(h, [science], 1000));
  await releaseReaches(h, releaseId, 'sent');
  const { rows } = await sql<{ id: number; subscriber_id: number; email: string }>`
    SELECT d.id, d.subscriber_id, s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.release_id = ${releaseId}`.execute(
    h.ctx.db,
  );
  for (const row of rows) delivery[row.email.split('@')[0]!] = { id: row.id, subscriberId: row.subscriber_id };
}, 60_000);
afterAll(async () => {
  await inbound?.close();
  await h?.close();
  await smtp?.close();
});

const fixture = (name: string, slots: Record<string, string>) =>
  readFileSync(new URL(`../fixtures/reports/${name}`, import.meta.url), 'utf8').replace(
    /\{\{(\w+)\}\}/g,
    (_, slot: string) => slots[slot] ?? `{{${slot}}}`,
  );
const verp = (who: string) => verpAddress(h.ctx.keys, delivery[who]!.id, BOUNCE_DOMAIN);

/** Hands a raw mail to presslift inbound; resolves with the server's reply, rejects with its refusal. */
async function mail(to: string, raw: string | Buffer, from = 'MAILER-DAEMON@relay.example.net') {
  const transport = nodemailer.createTransport({
    host: '127.0.0.1',
    port: inbound.port,
    secure: false,
    ignoreTLS: true,
  });
  try {
    return (await transport.sendMail({ envelope: { from, to: [to] }, raw })).response;
  } finally {
    transport.close();
  }
}
const refusal = (promise: Promise<unknown>) =>
  promise.then(
    () => null,
    (error: { responseCode?: number; response?: string }) => error,
  );

async function rowsOf() {
  const db = h.ctx.db;
  const [suppressions, events, audit, members, states] = await Promise.all([
    db.selectFrom('suppressions').select(['email_key', 'reason', 'source']).orderBy('email_key').execute(),
    db.selectFrom('mail_events').select(['kind', 'email_key', 'delivery_id', 'source']).orderBy('id').execute(),
    db
      .selectFrom('audit')
      .select(['action', 'actor'])
      .where('action', 'in', ['complaint', 'unsubscribe'])
      .orderBy('id')
      .execute(),
    db
      .selectFrom('list_members')
      .select(['list_id', 'subscriber_id', 'status'])
      .orderBy('list_id')
      .orderBy('subscriber_id')
      .execute(),
    db.selectFrom('deliveries').select(['id', 'state']).orderBy('id').execute(),
  ]);
  return { suppressions, events, audit, members, states };
}

describe('presslift inbound', () => {
  it('refuses every recipient but signed bounce addresses and the unsubscribe mailbox', async () => {
    const before = await rowsOf();
    const tampered = verp('calm').replace(/-[0-9a-f]{16}@/, '-0123456789abcdef@');
    const otherDomain = verpAddress(h.ctx.keys, delivery.calm!.id, 'elsewhere.example.org');
    for (const to of [
      'postmaster@bounces.news.example.org',
      'someone@example.com',
      tampered,
      otherDomain,
      `bounces+${delivery.calm!.id}@${BOUNCE_DOMAIN}`,
    ]) {
      const refused = await refusal(mail(to, fixture('postfix-550.eml', { VERP: to, RECIPIENT: 'calm@example.org' })));
      expect(refused?.responseCode, to).toBe(550);
    }
    expect(await mail(verp('calm'), 'Subject: hello\r\n\r\nout of office\r\n')).toMatch(/^250/);
    expect(await mail(UNSUBSCRIBE, 'Subject: hello\r\n\r\nplease call me\r\n')).toMatch(/^250/);
    expect(await rowsOf()).toEqual(before);
  });

  it('applies a complaint (RFC 5965) once: unsubscribed from every list, suppressed as a complaint', async () => {
    const arf = fixture('arf-rfc5965.eml', {
      TO: UNSUBSCRIBE,
      FEEDBACK_TYPE: 'abuse',
      ORIGINAL_MAIL_FROM: verp('angry'),
      RETURN_PATH: verp('angry'),
      RECIPIENT: 'angry@example.org',
      MESSAGE_ID: `<release-${releaseId}.delivery-${delivery.angry!.id}@presslift.localhost>`,
    });
    expect(await mail(UNSUBSCRIBE, arf, 'fbl@mailbox.example.com')).toMatch(/^250/);
    const after = await rowsOf();
    const angry = delivery.angry!.subscriberId;
    expect(after.members.filter((m) => m.subscriber_id === angry)).toEqual([
      { list_id: science, subscriber_id: angry, status: 'unsubscribed' },
      { list_id: health, subscriber_id: angry, status: 'unsubscribed' },
    ]);
    expect(after.suppressions.find((s) => s.email_key === 'angry@example.org')).toEqual({
      email_key: 'angry@example.org',
      reason: 'complaint (abuse)',
      source: 'arf',
    });
    expect(after.events.filter((e) => e.kind === 'complaint')).toEqual([
      { kind: 'complaint', email_key: 'angry@example.org', delivery_id: delivery.angry!.id, source: 'arf' },
    ]);
    expect(after.audit.filter((a) => a.action === 'complaint')).toHaveLength(1);
    // The message itself was delivered; a complaint does not change the delivery.
    expect(after.states.find((s) => s.id === delivery.angry!.id)!.state).toBe('sent');
    const view = (await h.api('GET', `/api/releases/${releaseId}`)).json;
    expect(view.feedback).toMatchObject({ complained: 1 });

    expect(await mail(UNSUBSCRIBE, arf, 'fbl@mailbox.example.com')).toMatch(/^250/);
    expect(await rowsOf()).toEqual(after);
  });

  it('drops a complaint whose envelope sender is not a signed address of ours, and one that is not a complaint', async () => {
    const before = await rowsOf();
    const forged = verpAddress(
      new Keyring('a different secret of someone else entirely'),
      delivery.forged!.id,
      BOUNCE_DOMAIN,
    );
    const slots = {
      TO: UNSUBSCRIBE,
      ORIGINAL_MAIL_FROM: forged,
      RETURN_PATH: forged,
      RECIPIENT: 'forged@example.org',
      MESSAGE_ID: `<release-${releaseId}.delivery-${delivery.forged!.id}@presslift.localhost>`,
    };
    expect(await mail(UNSUBSCRIBE, fixture('arf-rfc5965.eml', { ...slots, FEEDBACK_TYPE: 'abuse' }))).toMatch(/^250/);
    expect(
      await mail(
        UNSUBSCRIBE,
        fixture('arf-rfc5965.eml', { ...slots, ORIGINAL_MAIL_FROM: verp('forged'), FEEDBACK_TYPE: 'not-spam' }),
      ),
    ).toMatch(/^250/);
    expect(await rowsOf()).toEqual(before);
  });

  it('counts soft bounces once per delivery and suppresses the address at SOFT_BOUNCE_LIMIT within SOFT_BOUNCE_DAYS', async () => {
    const delayed = fixture('postfix-452-delayed.eml', { VERP: verp('soft'), RECIPIENT: 'soft@example.org' });
    expect(await mail(verp('soft'), delayed)).toMatch(/^250/);
    expect(await mail(verp('soft'), delayed)).toMatch(/^250/);
    let rows = await rowsOf();
    expect(rows.events.filter((e) => e.email_key === 'soft@example.org')).toEqual([
      { kind: 'soft_bounce', email_key: 'soft@example.org', delivery_id: delivery.soft!.id, source: 'dsn' },
    ]);
    expect(rows.suppressions.find((s) => s.email_key === 'soft@example.org')).toBeUndefined();
    // A delay leaves the delivery sent: the message may still arrive.
    expect(rows.states.find((s) => s.id === delivery.soft!.id)!.state).toBe('sent');

    const second = await scheduleIn(h, [science], 1000);
    await releaseReaches(h, second.id, 'sent');
    const { id: next } = await h.ctx.db
      .selectFrom('deliveries')
      .select('id')
      .where('release_id', '=', second.id)
      .where('subscriber_id', '=', delivery.soft!.subscriberId)
      .executeTakeFirstOrThrow();
    const nextVerp = verpAddress(h.ctx.keys, next, BOUNCE_DOMAIN);
    expect(
      await mail(nextVerp, fixture('postfix-452-delayed.eml', { VERP: nextVerp, RECIPIENT: 'soft@example.org' })),
    ).toMatch(/^250/);
    rows = await rowsOf();
    expect(rows.suppressions.find((s) => s.email_key === 'soft@example.org')).toMatchObject({
      source: 'dsn',
      reason: expect.stringMatching(/^2 soft bounces in 14 days \(last: 4\.2\.2 .*Mailbox full/),
    });
  }, 30_000);

  it('bounces a message that was delayed and then given up on (4.4.7), counting one soft bounce for it', async () => {
    const slots = { VERP: verp('patient'), RECIPIENT: 'patient@example.org' };
    expect(await mail(verp('patient'), fixture('postfix-452-delayed.eml', slots))).toMatch(/^250/);
    const expired = fixture('postfix-550.eml', slots)
      .replace('Status: 5.1.1', 'Status: 4.4.7')
      .replace(
        /Diagnostic-Code: [^]*?\r\n\r\n/,
        'Diagnostic-Code: X-Postfix; delivery temporarily suspended: message expired\r\n\r\n',
      );
    expect(await mail(verp('patient'), expired)).toMatch(/^250/);
    const rows = await rowsOf();
    expect(rows.states.find((s) => s.id === delivery.patient!.id)!.state).toBe('bounced');
    expect(rows.events.filter((e) => e.email_key === 'patient@example.org').map((e) => e.kind)).toEqual([
      'soft_bounce',
      'soft_bounce',
    ]);
    // One message, one soft bounce: below SOFT_BOUNCE_LIMIT (2), and 4.4.7 says nothing against the address.
    expect(rows.suppressions.find((s) => s.email_key === 'patient@example.org')).toBeUndefined();
    expect(await mail(verp('patient'), expired)).toMatch(/^250/);
    expect(await rowsOf()).toEqual(rows);
  });

  it('bounces a delivery once however often its DSN arrives', async () => {
    const dsn = fixture('postfix-550.eml', { VERP: verp('ghost'), RECIPIENT: 'ghost@example.org' });
    expect(await mail(verp('ghost'), dsn)).toMatch(/^250/);
    const after = await rowsOf();
    expect(after.states.find((s) => s.id === delivery.ghost!.id)!.state).toBe('bounced');
    expect(after.suppressions.find((s) => s.email_key === 'ghost@example.org')).toMatchObject({
      source: 'dsn',
      reason: expect.stringMatching(/^bounced: 5\.1\.1/),
    });
    expect(await mail(verp('ghost'), dsn)).toMatch(/^250/);
    expect(await rowsOf()).toEqual(after);
  });

  it('asks the sender to retry a bounce that arrives before the acceptance is recorded', async () => {
    const { db } = h.ctx;
    const racing = delivery.racing!.id;
    await db.updateTable('deliveries').set({ state: 'sending' }).where('id', '=', racing).execute();
    const dsn = fixture('postfix-550.eml', { VERP: verp('racing'), RECIPIENT: 'racing@example.org' });
    const refused = await refusal(mail(verp('racing'), dsn));
    expect(refused?.responseCode).toBe(451);
    expect(await db.selectFrom('mail_events').select('id').where('delivery_id', '=', racing).execute()).toHaveLength(0);
    await db.updateTable('deliveries').set({ state: 'sent' }).where('id', '=', racing).execute();
    expect(await mail(verp('racing'), dsn)).toMatch(/^250/);
    expect(
      (await db.selectFrom('deliveries').select('state').where('id', '=', racing).executeTakeFirstOrThrow()).state,
    ).toBe('bounced');
  });

  it('unsubscribes by the mailto of List-Unsubscribe as the one-click link does, once', async () => {
    const leaver = delivery.leaver!.subscriberId;
    const sent = smtp.messages.find((m) => m.to[0] === 'leaver@example.org')!;
    // The mailto exactly as the message offers it.
    const mailto = /^List-Unsubscribe:.*<mailto:([^?]+)\?subject=([^>]+)>/im.exec(
      sent.raw.replace(/\r\n[ \t]+/g, ' '),
    )!;
    expect(mailto[1]).toBe(UNSUBSCRIBE);
    const subject = decodeURIComponent(mailto[2]!);
    expect(subject).toBe(`unsubscribe ${signUnsubscribeToken(h.ctx.keys, leaver, science)}`);
    const request = `From: leaver@example.org\r\nTo: ${UNSUBSCRIBE}\r\nSubject: ${subject}\r\n\r\n`;
    expect(await mail(UNSUBSCRIBE, request, 'leaver@example.org')).toMatch(/^250/);
    const after = await rowsOf();
    expect(after.members.filter((m) => m.subscriber_id === leaver)).toEqual([
      { list_id: science, subscriber_id: leaver, status: 'unsubscribed' },
      { list_id: health, subscriber_id: leaver, status: 'active' },
    ]);
    expect(after.audit.filter((a) => a.action === 'unsubscribe' && a.actor === `subscriber:${leaver}`)).toHaveLength(1);
    expect(after.suppressions.find((s) => s.email_key === 'leaver@example.org')).toBeUndefined();
    expect(await mail(UNSUBSCRIBE, request, 'leaver@example.org')).toMatch(/^250/);
    expect(await rowsOf()).toEqual(after);

    // The token may ride in the address instead (unsubscribe+<token>@…).
    const healthToken = signUnsubscribeToken(h.ctx.keys, leaver, health);
    expect(
      await mail(UNSUBSCRIBE.replace('@', `+${healthToken}@`), 'Subject: bye\r\n\r\n', 'leaver@example.org'),
    ).toMatch(/^250/);
    expect((await rowsOf()).members.filter((m) => m.subscriber_id === leaver).map((m) => m.status)).toEqual([
      'unsubscribed',
      'unsubscribed',
    ]);

    // A forged token changes nothing.
    const before = await rowsOf();
    const calm = delivery.calm!.subscriberId;
    const forged = signUnsubscribeToken(new Keyring('another secret of thirty-two characters or more'), calm, science);
    expect(await mail(UNSUBSCRIBE, `Subject: unsubscribe ${forged}\r\n\r\n`)).toMatch(/^250/);
    expect(await rowsOf()).toEqual(before);
  });

  it('logs and drops malformed reports, refuses oversized mail, and keeps serving', async () => {
    const before = await rowsOf();
    const noStatusPart = fixture('postfix-550.eml', { VERP: verp('calm'), RECIPIENT: 'calm@example.org' }).replace(
      'Content-Type: message/delivery-status',
      'Content-Type: text/plain',
    );
    const noRecipient = fixture('postfix-550.eml', { VERP: verp('calm'), RECIPIENT: 'calm@example.org' }).replace(
      /Action: failed\r\n/,
      '',
    );
    const garbage = Buffer.from(
      `Content-Type: multipart/report; report-type=delivery-status; boundary="x"\r\n\r\n--x\r\n\u0000\u00ff\u00fe--y--\r\n`,
      'latin1',
    );
    const arfWithoutType = fixture('arf-rfc5965.eml', {
      TO: UNSUBSCRIBE,
      ORIGINAL_MAIL_FROM: verp('calm'),
      RETURN_PATH: verp('calm'),
      RECIPIENT: 'calm@example.org',
      MESSAGE_ID: '<x@y>',
    }).replace(/Feedback-Type: .*\r\n/, '');
    for (const raw of [noStatusPart, noRecipient, garbage, arfWithoutType])
      expect(await mail(verp('calm'), raw)).toMatch(/^250/);
    const big = `Subject: big\r\n\r\n${'x'.repeat(76).concat('\r\n').repeat(3000)}`;
    expect((await refusal(mail(verp('calm'), big)))?.responseCode).toBe(552);
    expect(await rowsOf()).toEqual(before);
    expect(await mail(verp('calm'), 'Subject: still here?\r\n\r\n')).toMatch(/^250/);
  });
});

describe('npm start', () => {
  it('runs presslift inbound beside the API and the workers when INBOUND_PORT is set, and stops it on SIGTERM', async () => {
    const port = await freePort();
    const started = spawnPresslift(['start'], {
      ...h.env,
      LOG_LEVEL: 'info',
      PORT: String(await freePort()),
      HOST: '127.0.0.1',
      INBOUND_HOST: '127.0.0.1',
      INBOUND_PORT: String(port),
      BOUNCE_DOMAIN,
      UNSUBSCRIBE_MAILTO: UNSUBSCRIBE,
    });
    try {
      await started.waitForLog('inbound SMTP listening');
      const transport = nodemailer.createTransport({ host: '127.0.0.1', port, secure: false, ignoreTLS: true });
      const send = (to: string) =>
        transport.sendMail({
          envelope: { from: 'someone@example.net', to: [to] },
          raw: 'Subject: hi\r\n\r\nhello\r\n',
        });
      expect((await refusal(send('stranger@bounces.news.example.org')))?.responseCode).toBe(550);
      expect((await send(verp('calm'))).response).toMatch(/^250/);
      transport.close();
    } finally {
      started.kill('SIGTERM');
      expect(await started.exited).toBe(0);
    }
  });
});
