import { simpleParser } from 'mailparser';
import { sql } from 'kysely';
import { SMTPServer } from 'smtp-server';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SmtpPool, SmtpUtf8Unavailable } from '../../src/mail/smtp-pool.js';
import { createRelease, listWith } from '../support/fixtures.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';

interface Relay {
  port: number;
  mailFrom: Array<{ address: string; smtpUtf8: boolean }>;
  received: Array<{ to: string[]; raw: string }>;
  close(): Promise<void>;
}

/** A relay that records MAIL FROM's SMTPUTF8 parameter; `offer` decides whether EHLO lists the extension. */
async function relay(offer: boolean): Promise<Relay> {
  const state: Omit<Relay, 'close' | 'port'> = { mailFrom: [], received: [] };
  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    hideSMTPUTF8: !offer,
    onMailFrom(address, _session, callback) {
      state.mailFrom.push({
        address: address.address,
        smtpUtf8: ((address.args as Record<string, unknown> | false) || {}).SMTPUTF8 === true,
      });
      callback();
    },
    onData(stream, session, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        state.received.push({
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks).toString('utf8'),
        });
        callback();
      });
    },
  });
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.server.address();
  return {
    ...state,
    port: typeof address === 'object' && address ? address.port : 0,
    close: () => new Promise((r) => server.close(() => r())),
  } as Relay;
}

const KOREAN = '이정민@example.kr';
let offering: Relay;
let refusing: Relay;
let h: Harness;

beforeAll(async () => {
  [offering, refusing] = await Promise.all([relay(true), relay(false)]);
  h = await createHarness({ SMTP_URL: `smtp://127.0.0.1:${refusing.port}` });
  await h.startWorkers();
});
afterAll(async () => {
  await h?.close();
  await Promise.all([offering?.close(), refusing?.close()]);
});

const pool = (port: number) => new SmtpPool({ host: '127.0.0.1', port, secure: false, size: 1, timeoutMs: 5000 });
const message = Buffer.from(
  `From: press@news.example.org\r\nTo: ${KOREAN}\r\nSubject: hi\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n안녕하세요\r\n`,
);

describe('addresses with non-ASCII characters (RFC 6531)', () => {
  it('are sent with SMTPUTF8 when the relay offers it', async () => {
    const p = pool(offering.port);
    try {
      expect(await p.send({ from: 'bounce@news.example.org', to: [KOREAN] }, message)).toMatch(/^250/);
      expect(await p.send({ from: 'bounce@news.example.org', to: ['ascii@example.org'] }, message)).toMatch(/^250/);
    } finally {
      p.close();
    }
    expect(offering.mailFrom).toEqual([
      { address: 'bounce@news.example.org', smtpUtf8: true },
      { address: 'bounce@news.example.org', smtpUtf8: false },
    ]);
    expect(offering.received[0]!.to).toEqual([KOREAN]);
    expect((await simpleParser(offering.received[0]!.raw)).text).toContain('안녕하세요');
  });

  it('are not handed to a relay that does not offer SMTPUTF8, with a reason that says so', async () => {
    const p = pool(refusing.port);
    try {
      await expect(p.send({ from: 'bounce@news.example.org', to: [KOREAN] }, message)).rejects.toBeInstanceOf(
        SmtpUtf8Unavailable,
      );
      expect(refusing.mailFrom).toEqual([]);
      // The connection stays good for the next (ASCII) message.
      expect(await p.send({ from: 'bounce@news.example.org', to: ['ascii@example.org'] }, message)).toMatch(/^250/);
    } finally {
      p.close();
    }
    refusing.mailFrom.length = 0;
    refusing.received.length = 0;
  });

  it('fail only that delivery through such a relay, unsuppressed, and are refused at sign-up with a message that says why', async () => {
    const listId = await listWith(h, 'International desk', [
      { email: KOREAN, name: '이정민' },
      { email: 'zoe@example.org', name: 'Zoë' },
    ]);
    const release = await createRelease(h, [listId], new Date(Date.now() + 1500));
    expect((await h.api('POST', `/api/releases/${release.id}/schedule`)).status).toBe(200);
    await waitUntil(
      async () => (await h.api('GET', `/api/releases/${release.id}`)).json.status === 'sent',
      30_000,
      'sent',
    );
    const rows = await sql<{ email: string; state: string; last_error: string | null }>`
      SELECT s.email, d.state, d.last_error FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.release_id = ${release.id} ORDER BY s.email`.execute(
      h.ctx.db,
    );
    expect(rows.rows).toEqual([
      { email: 'zoe@example.org', state: 'sent', last_error: null },
      {
        email: KOREAN,
        state: 'failed',
        last_error:
          '553 5.6.7 not sent: the address has non-ASCII characters and the relay does not offer SMTPUTF8 (RFC 6531)',
      },
    ]);
    expect(await h.ctx.db.selectFrom('suppressions').selectAll().execute()).toEqual([]);
    expect(refusing.received.map((r) => r.to)).toEqual([['zoe@example.org']]);

    await h.api('PATCH', `/api/lists/${listId}`, { public: true });
    const counts = async () =>
      (
        await sql<{
          n: number;
        }>`SELECT (SELECT count(*) FROM subscribers) + (SELECT count(*) FROM consents) + (SELECT count(*) FROM signups) + (SELECT count(*) FROM audit) AS n`.execute(
          h.ctx.db,
        )
      ).rows[0]!.n;
    const before = await counts();
    const body = new URLSearchParams({
      email: '김민준@example.kr',
      name: '김민준',
      list: String(listId),
      consent: 'signup-2026-1',
      website: '',
    });
    const refused = await h.app.inject({
      method: 'POST',
      url: '/subscribe',
      payload: body.toString(),
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
    });
    expect(refused.statusCode).toBe(400);
    expect(refused.body).toContain('Email: our mail system cannot send to addresses with non-ASCII characters yet');
    expect(await counts()).toBe(before);
  });
});
