import { generateKeyPairSync } from 'node:crypto';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import { describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password.js';
import { createAccount } from '../../src/db/accounts.js';
import { signUnsubscribeToken } from '../../src/mail/unsubscribe-token.js';
import { Keyring, randomToken } from '../../src/signing.js';
import { listWith, releaseStatus, scheduleIn } from '../support/fixtures.js';
import { waitUntil } from '../support/harness.js';
import { useSmtpHarness } from '../support/smtp-harness.js';

const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
const publicKeyBase64 = publicKey.export({ type: 'spki', format: 'der' }).toString('base64');

/** The DNS answer a mail provider would get for our selector; every other name does not exist. */
async function dnsStub(name: string, type: string) {
  if (type === 'TXT' && name === 'pl2030._domainkey.news.example.org')
    return [[`v=DKIM1; k=rsa; p=${publicKeyBase64}`]];
  throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
}
const verify = async (raw: string) => (await dkimVerify(Buffer.from(raw), { resolver: dnsStub as never })).results[0]!;

const t = useSmtpHarness({
  SEND_BATCH_SIZE: '1',
  SEND_CONCURRENCY: '1',
  MAIL_FROM: 'Northbridge Newsroom <newsroom@news.example.org>',
  FEEDBACK_ID: 'northbridge',
  PRESS_CONTACT_EMAIL: 'press@news.example.org',
  DKIM_DOMAIN: 'news.example.org',
  DKIM_SELECTOR: 'pl2030',
  DKIM_PRIVATE_KEY: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
});

const sentRelease = (id: number) =>
  waitUntil(
    async () => {
      const r = await releaseStatus(t.h, id);
      return r.status === 'sent' && r;
    },
    30_000,
    'release sent',
  );

/** Calls a public URL as a journalist's browser or mailbox provider would: no token, no cookie. */
const visit = (
  method: 'GET' | 'POST',
  path: string,
  body?: string,
  contentType = 'application/x-www-form-urlencoded',
) =>
  t.h.app.inject({
    method,
    url: path,
    ...(body === undefined ? {} : { payload: body, headers: { 'content-type': contentType } }),
  });

const subscriberId = async (email: string) =>
  (
    await t.h.ctx.db
      .selectFrom('subscribers')
      .select('id')
      .where('email_key', '=', email.toLowerCase())
      .executeTakeFirstOrThrow()
  ).id;

describe('the message a journalist receives', () => {
  it('carries the bulk-sender headers, signed with DKIM over both List-Unsubscribe headers', async () => {
    t.smtp.messages.length = 0;
    const list = await listWith(t.h, 'Science desk', [{ email: 'ada@example.org', name: 'Ada Lovelace' }]);
    const { id } = await scheduleIn(t.h, [list], 1500, {
      contact: { name: 'Lena Fischer', email: 'lena@news.example.org', phone: '+1 617 555 0142' },
    });
    await sentRelease(id);
    const [message] = await t.smtp.waitFor(1);
    const raw = message!.raw;

    expect(raw).toMatch(/^List-Id: "Science desk" <science-desk\.news\.example\.org>\r?$/im);
    const unsubscribe =
      /^List-Unsubscribe: <(https:\/\/news\.example\.org\/unsubscribe\/[^>]+)>,\s+<mailto:unsubscribe@news\.example\.org\?subject=unsubscribe%20[^>]+>\r?$/im.exec(
        raw,
      );
    expect(unsubscribe).not.toBeNull();
    expect(raw).toMatch(/^List-Unsubscribe-Post: List-Unsubscribe=One-Click\r?$/im);
    expect(raw).toMatch(new RegExp(`^Feedback-ID: ${id}:${list}:release:northbridge\\r?$`, 'im'));
    expect(message!.mail.replyTo?.value[0]).toMatchObject({ name: 'Lena Fischer', address: 'lena@news.example.org' });
    // The visible link in the body is the same one-click URL.
    expect(message!.mail.html).toContain(`href="${unsubscribe![1]}"`);
    expect(message!.mail.text).toContain(`Unsubscribe: ${unsubscribe![1]}`);
    expect(message!.mail.html).toContain('Lena Fischer');

    const result = await verify(raw);
    expect(result.status.result).toBe('pass');
    expect(result.signingDomain).toBe('news.example.org');
    const signed = /^DKIM-Signature:[\s\S]*?\bh=([^;]+);/im.exec(raw)![1]!.replace(/\s+/g, '').toLowerCase().split(':');
    expect(signed).toEqual(
      expect.arrayContaining([
        'from',
        'reply-to',
        'list-id',
        'list-unsubscribe',
        'list-unsubscribe-post',
        'feedback-id',
      ]),
    );
    // Changing either header in transit breaks the signature.
    const forgedPost = raw.replace(/^List-Unsubscribe-Post: .*$/im, 'List-Unsubscribe-Post: List-Unsubscribe=Never');
    expect((await verify(forgedPost)).status.result).toBe('fail');
    const forgedLink = raw.replace(
      /^List-Unsubscribe: <https:\/\/news\.example\.org/im,
      'List-Unsubscribe: <https://evil.example',
    );
    expect((await verify(forgedLink)).status.result).toBe('fail');
  });
});

describe('a test send', () => {
  it('sends one [TEST] copy to a staff address and touches no delivery', async () => {
    t.smtp.messages.length = 0;
    const list = await listWith(t.h, 'Test desk', [{ email: 'reader@example.org', name: 'Real Reader' }]);
    const { id } = await scheduleIn(t.h, [list], 3_600_000);
    const bad = await t.h.api('POST', `/api/releases/${id}/test-send`, { email: 'not-an-address' });
    expect([bad.status, bad.json.error, bad.json.message]).toEqual([
      400,
      'invalid_input',
      expect.stringContaining('email'),
    ]);

    // Test copies go to staff only.
    await createAccount(t.h.ctx.db, 'editor@news.example.org', 'editor', await hashPassword('a long enough password'));
    const sent = await t.h.api('POST', `/api/releases/${id}/test-send`, { email: 'editor@news.example.org' });
    expect(sent.status).toBe(200);
    const [copy] = await t.smtp.waitFor(1);
    expect(copy!.to).toEqual(['editor@news.example.org']);
    expect(copy!.mail.subject).toBe('[TEST] Quantum sensor maps brain activity');
    // This release names no contact: replies go to the configured press office.
    expect(copy!.mail.replyTo?.value[0]?.address).toBe('press@news.example.org');
    expect(copy!.mail.messageId).toMatch(new RegExp(`^<release-${id}\\.test-`));
    expect((await verify(copy!.raw)).status.result).toBe('pass');
    // Its unsubscribe link names no journalist: following it unsubscribes nobody.
    const link = /^List-Unsubscribe: <https:\/\/news\.example\.org(\/unsubscribe\/[^>]+)>/im.exec(copy!.raw)![1]!;
    expect((await visit('POST', link, 'List-Unsubscribe=One-Click')).statusCode).toBe(404);

    t.smtp.messages.length = 0;
    expect(
      (await t.h.api('POST', `/api/releases/${id}/test-send`, { email: 'editor@news.example.org', phase: 'advance' }))
        .status,
    ).toBe(200);
    const [advance] = await t.smtp.waitFor(1);
    expect(advance!.mail.subject).toMatch(
      /^\[TEST\] EMBARGOED — NOT FOR PUBLICATION UNTIL .*: Quantum sensor maps brain activity$/,
    );

    const release = await releaseStatus(t.h, id);
    expect(release.status).toBe('scheduled');
    expect(Object.values(release.counts).every((n) => n === 0)).toBe(true);
    expect(await t.h.ctx.db.selectFrom('deliveries').select('id').where('release_id', '=', id).execute()).toEqual([]);
  });
});

describe('one-click unsubscribe', () => {
  it('asks on GET, unsubscribes on a bare RFC 8058 POST, and offers a way back confirmed from the mailbox', async () => {
    const list = await listWith(t.h, 'Health desk', [{ email: 'grace@example.org', name: 'Grace Hopper' }]);
    const grace = await subscriberId('grace@example.org');
    const path = `/unsubscribe/${signUnsubscribeToken(t.h.ctx.keys, grace, list)}`;

    const confirm = await visit('GET', path);
    expect(confirm.statusCode).toBe(200);
    expect(confirm.body).toContain('grace@example.org');
    expect(confirm.body).toMatch(/<form method="post" action="\/unsubscribe\/[^"]+">/);
    expect(confirm.headers['referrer-policy']).toBe('no-referrer');
    const status = async () =>
      (
        await t.h.ctx.db
          .selectFrom('list_members')
          .select('status')
          .where('subscriber_id', '=', grace)
          .where('list_id', '=', list)
          .executeTakeFirstOrThrow()
      ).status;
    expect(await status()).toBe('active'); // a GET (a link scanner) changes nothing

    const done = await visit('POST', path, 'List-Unsubscribe=One-Click');
    expect(done.statusCode).toBe(200);
    expect(await status()).toBe('unsubscribed');
    expect((await visit('POST', path, 'List-Unsubscribe=One-Click')).statusCode).toBe(200); // a second click is harmless

    // Holding the link is not enough to come back: the address itself is asked to confirm.
    const ask = /<form method="post" action="(\/unsubscribe\/[^"]+\/resubscribe)">/.exec(done.body)![1]!;
    t.smtp.messages.length = 0;
    const asked = await visit('POST', ask, 'List-Unsubscribe=One-Click');
    expect(asked.statusCode).toBe(200);
    expect(asked.body).toContain('Check your inbox');
    expect(await status()).toBe('unsubscribed');
    const [confirmation] = await t.smtp.waitFor(1);
    expect(confirmation!.to).toEqual(['grace@example.org']);
    expect((await verify(confirmation!.raw)).status.result).toBe('pass');
    const back = /https:\/\/news\.example\.org(\/resubscribe\/\S+)/.exec(confirmation!.mail.text!)![1]!;
    // A resubscribe token is no unsubscribe token, and the other way round.
    expect((await visit('POST', back.replace('/resubscribe/', '/unsubscribe/'))).statusCode).toBe(404);
    expect((await visit('GET', path.replace('/unsubscribe/', '/resubscribe/'))).statusCode).toBe(404);
    expect((await visit('GET', back)).body).toContain('Resubscribe?');
    expect(await status()).toBe('unsubscribed'); // a GET (a link scanner) changes nothing
    expect((await visit('POST', back, 'List-Unsubscribe=One-Click')).statusCode).toBe(200);
    expect(await status()).toBe('active');
  });

  it('answers a forged or unknown token with the same 404 as any missing page', async () => {
    const list = await listWith(t.h, 'Forgery', [{ email: 'eve@example.org' }]);
    const eve = await subscriberId('eve@example.org');
    const real = signUnsubscribeToken(t.h.ctx.keys, eve, list);
    const unknown = await visit('GET', '/unsubscribe/nothing-here');
    expect(unknown.statusCode).toBe(404);
    for (const forged of [
      `${eve + 1}.${list}.${real.split('.')[2]}`, // someone else's id under Eve's MAC
      signUnsubscribeToken(new Keyring(randomToken()), eve, list),
      signUnsubscribeToken(t.h.ctx.keys, 999_999, list), // signed, but no such membership
    ]) {
      for (const method of ['GET', 'POST'] as const) {
        const answer = await visit(
          method,
          `/unsubscribe/${forged}`,
          method === 'POST' ? 'List-Unsubscribe=One-Click' : undefined,
        );
        expect(answer.statusCode).toBe(404);
        expect(answer.body).toBe(unknown.body);
      }
    }
  });

  it('is honoured for a delivery already queued behind a slow send', async () => {
    t.smtp.messages.length = 0;
    const list = await listWith(t.h, 'Queue desk', [{ email: 'first@example.org' }, { email: 'second@example.org' }]);
    const second = await subscriberId('second@example.org');
    t.smtp.delayMs = 1500; // the first message is held at the relay; the second waits its turn (one at a time)
    try {
      const { id } = await scheduleIn(t.h, [list], 1200);
      await waitUntil(async () => t.smtp.attempts.has('first@example.org'), 30_000, 'first message at the relay');
      const queued = await t.h.api('GET', `/api/releases/${id}/deliveries?state=queued`);
      expect(queued.json.items.map((d: { email: string }) => d.email)).toEqual(['second@example.org']);

      const path = `/unsubscribe/${signUnsubscribeToken(t.h.ctx.keys, second, list)}`;
      expect(
        (
          await visit(
            'POST',
            path,
            '--x\r\nContent-Disposition: form-data; name="List-Unsubscribe"\r\n\r\nOne-Click\r\n--x--',
            'multipart/form-data; boundary=x',
          )
        ).statusCode,
      ).toBe(200);

      const release = await sentRelease(id);
      expect(release.counts).toMatchObject({ sent: 1, skipped: 1 });
      expect(t.smtp.messages.map((m) => m.to[0])).toEqual(['first@example.org']);
      const skipped = (await t.h.api('GET', `/api/releases/${id}/deliveries?state=skipped`)).json.items;
      expect(skipped).toEqual([
        expect.objectContaining({ email: 'second@example.org', lastError: 'unsubscribed before sending' }),
      ]);
    } finally {
      t.smtp.delayMs = 0;
    }
  });
});
