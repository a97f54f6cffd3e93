import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password.js';
import { PREVIEW_CSP } from '../../src/api/security.js';
import { createAccount } from '../../src/db/accounts.js';
import { attachmentChunks } from '../../src/db/attachments.js';
import { createSession } from '../../src/db/sessions.js';
import { fileKey } from '../../src/mail/file-key.js';
import { signUnsubscribeToken } from '../../src/mail/unsubscribe-token.js';
import { publicSlug } from '../../src/releases/lifecycle.js';
import { MAX_INVALID_LISTED } from '../../src/subscribers/csv-import.js';
import { createRelease, listWith } from '../support/fixtures.js';
import { createHarness, type Harness } from '../support/harness.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

let h: Harness;
let smtp: TestSmtp;

beforeAll(async () => {
  smtp = await startSmtp();
  h = await createHarness({
    SMTP_URL: smtp.url,
    MAX_IMPORT_BYTES: '20000',
    PUBLIC_REQUESTS_PER_MINUTE: '30',
    TEST_SENDS_PER_HOUR: '2',
    TEST_SEND_ALLOWLIST: 'desk@partner.example.net,@agency.example.com',
  });
});
afterAll(async () => {
  await h?.close();
  await smtp?.close();
});

const later = () => new Date(Date.now() + 3_600_000);
const upload = (id: number, filename: string, body: Buffer, type: string) =>
  h.app.inject({
    method: 'POST',
    url: `/api/releases/${id}/attachments?filename=${encodeURIComponent(filename)}`,
    headers: { authorization: `Bearer ${h.token}`, 'content-type': type },
    payload: body,
  });
const subscriberId = async (email: string) =>
  (await h.ctx.db.selectFrom('subscribers').select('id').where('email_key', '=', email).executeTakeFirstOrThrow()).id;

describe('answers that carry embargoed text', () => {
  it('are never stored by a browser or proxy: API, console pages and previews say no-store; the public newsroom may be cached', async () => {
    const list = await listWith(h, 'Caching', [{ email: 'cache@example.org' }]);
    const release = await createRelease(h, [list], later());
    const accountId = (
      await createAccount(h.ctx.db, 'cache-editor@example.org', 'editor', await hashPassword('a long enough password'))
    ).id;
    const session = await createSession(h.ctx.db, accountId, 60);
    const cookie = { cookie: `presslift_session=${session.token}` };
    for (const [url, headers] of [
      [`/api/releases/${release.id}`, { authorization: `Bearer ${h.token}` }],
      [`/api/releases/${release.id}/audit`, { authorization: `Bearer ${h.token}` }],
      [`/api/releases/${release.id}/preview`, { authorization: `Bearer ${h.token}` }],
      [`/console/releases/${release.id}`, cookie],
      [`/console/releases/${release.id}/preview`, cookie],
      [`/console/releases/${release.id}/edit`, cookie],
      ['/console/releases', cookie],
    ] as Array<[string, Record<string, string>]>) {
      const answer = await h.app.inject({ method: 'GET', url, headers });
      expect([url, answer.statusCode, answer.headers['cache-control']]).toEqual([url, 200, 'no-store']);
    }
    expect((await h.app.inject({ method: 'GET', url: '/releases' })).headers['cache-control']).toBe(
      'public, max-age=60',
    );
    expect((await h.app.inject({ method: 'GET', url: '/assets/console.css' })).headers['cache-control']).toBe(
      'public, max-age=300',
    );
  });

  it("as the API's email preview, run in the same sandbox as the console's", async () => {
    const list = await listWith(h, 'Preview', [{ email: 'preview@example.org' }]);
    const release = await createRelease(h, [list], later(), { body: 'Hello <script>alert(1)</script> **world**' });
    const preview = await h.api('GET', `/api/releases/${release.id}/preview`);
    expect(preview.status).toBe(200);
    expect(
      (
        await h.app.inject({
          method: 'GET',
          url: `/api/releases/${release.id}/preview`,
          headers: { authorization: `Bearer ${h.token}` },
        })
      ).headers['content-security-policy'],
    ).toBe(PREVIEW_CSP);
    expect(preview.body).not.toContain('<script');
  });
});

describe('release files', () => {
  it('are accepted only in allowed types, served as such, and streamed from PostgreSQL in slices', async () => {
    const list = await listWith(h, 'Files', [{ email: 'files@example.org' }]);
    const release = await createRelease(h, [list], later());
    const refused = await upload(release.id, 'page.html', Buffer.from('<script>steal()</script>'), 'text/html');
    expect(refused.statusCode).toBe(415);
    expect(refused.json()).toMatchObject({ error: 'unsupported_media_type', details: { field: 'content-type' } });
    expect(
      await h.ctx.db.selectFrom('release_attachments').select('id').where('release_id', '=', release.id).execute(),
    ).toEqual([]);

    // 600 KB: three slices of 256 KB at most.
    const big = Buffer.alloc(600 * 1024);
    for (let i = 0; i < big.length; i++) big[i] = (i * 7919) % 251;
    const pdf = await upload(release.id, 'data.pdf', big, 'application/pdf');
    expect(pdf.statusCode).toBe(201);
    const chunks: number[] = [];
    for await (const chunk of attachmentChunks(h.ctx.db, pdf.json().id, big.length)) chunks.push(chunk.length);
    expect(chunks).toEqual([256 * 1024, 256 * 1024, 88 * 1024]);
    const note = await upload(release.id, 'note.txt', Buffer.from('plain words'), 'text/plain; charset=utf-8');
    expect(note.statusCode).toBe(201);

    // An advance copy's keyed link (its reader's own key) works before the lift.
    const reader = await h.ctx.db
      .selectFrom('subscribers')
      .select('id')
      .where('email', '=', 'files@example.org')
      .executeTakeFirstOrThrow();
    const copy = await h.ctx.db
      .insertInto('deliveries')
      .values({
        release_id: release.id,
        release_version: 1,
        subscriber_id: reader.id,
        list_id: list,
        phase: 'advance',
        not_before: new Date(),
        state: 'sent',
      })
      .returning('id')
      .executeTakeFirstOrThrow();
    const key = fileKey(h.ctx.keys, copy.id);
    const keyed = await h.ctx.db
      .selectFrom('release_attachments')
      .select(['id'])
      .where('release_id', '=', release.id)
      .orderBy('id')
      .execute();
    const fetchFile = (id: number, name: string) =>
      h.app.inject({ method: 'GET', url: `/files/${id}/${name}?key=${key}` });
    const served = await fetchFile(keyed[0]!.id, 'data.pdf');
    expect(served.statusCode).toBe(200);
    expect(served.rawPayload.equals(big)).toBe(true);
    expect([
      served.headers['content-type'],
      served.headers['content-length'],
      served.headers['x-content-type-options'],
    ]).toEqual(['application/pdf', String(big.length), 'nosniff']);
    expect(served.headers['content-disposition']).toMatch(/^inline;/);
    const text = await fetchFile(keyed[1]!.id, 'note.txt');
    expect([text.headers['content-type'], text.headers['content-disposition']]).toEqual([
      'text/plain; charset=utf-8',
      "attachment; filename*=UTF-8''note.txt",
    ]);

    // A file stored before the allowlist, of a type it does not name, goes out as bytes to download.
    await h.ctx.db
      .updateTable('release_attachments')
      .set({ content_type: 'text/html' })
      .where('id', '=', keyed[1]!.id)
      .execute();
    const legacy = await fetchFile(keyed[1]!.id, 'note.txt');
    expect([legacy.headers['content-type'], legacy.headers['content-disposition']?.startsWith('attachment;')]).toEqual([
      'application/octet-stream',
      true,
    ]);
  });
});

describe('the public feed', () => {
  it('is built once per newsroom version and answers 304 until the next lift', async () => {
    const first = await h.app.inject({ method: 'GET', url: '/releases/feed.xml' });
    const etag = String(first.headers.etag);
    expect(etag).toMatch(/^"[\w-]+"$/);
    const again = await h.app.inject({ method: 'GET', url: '/releases/feed.xml', headers: { 'if-none-match': etag } });
    expect([again.statusCode, again.body]).toEqual([304, '']);

    const list = await listWith(h, 'Feed', [{ email: 'feed@example.org' }]);
    const release = await createRelease(h, [list], later(), { title: 'Feed-visible after lift 5151' });
    // As the lift worker leaves a lifted release (the feed's cache keys on PostgreSQL's state, not on who changed it).
    await h.ctx.db
      .updateTable('releases')
      .set({ status: 'sent', lifted_at: new Date(), slug: publicSlug(release) })
      .where('id', '=', release.id)
      .execute();
    const lifted = await h.app.inject({ method: 'GET', url: '/releases/feed.xml', headers: { 'if-none-match': etag } });
    expect(lifted.statusCode).toBe(200);
    expect(lifted.headers.etag).not.toBe(etag);
    expect(lifted.body).toContain('Feed-visible after lift 5151');
  });
});

describe('public pages', () => {
  it('are rate-limited per client address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i <= 30; i++)
      statuses.push(
        (await h.app.inject({ method: 'GET', url: '/releases', remoteAddress: '203.0.113.50' })).statusCode,
      );
    expect(statuses.slice(0, 30).every((s) => s === 200)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    expect((await h.app.inject({ method: 'GET', url: '/releases', remoteAddress: '203.0.113.51' })).statusCode).toBe(
      200,
    );
    const unsubscribe = [];
    for (let i = 0; i <= 30; i++)
      unsubscribe.push(
        (
          await h.app.inject({
            method: 'GET',
            url: '/unsubscribe/1.1.aaaaaaaaaaaaaaaaaaaaaa',
            remoteAddress: '203.0.113.52',
          })
        ).statusCode,
      );
    expect([unsubscribe[0], unsubscribe.at(-1)]).toEqual([404, 429]);
  });
});

describe('test copies', () => {
  it('go only to staff accounts or the allowlist, a few an hour', async () => {
    const list = await listWith(h, 'Test sends', [{ email: 'real-reader@example.org' }]);
    const release = await createRelease(h, [list], later());
    smtp.messages.length = 0;
    const send = (email: string, token = h.token) =>
      h.app.inject({
        method: 'POST',
        url: `/api/releases/${release.id}/test-send`,
        headers: { authorization: `Bearer ${token}` },
        payload: { email },
      });
    const outsider = await send('leak@rival.example.com');
    expect([outsider.statusCode, outsider.json().details]).toEqual([400, { field: 'email' }]);
    await createAccount(h.ctx.db, 'desk-editor@example.org', 'editor', await hashPassword('a long enough password'));
    const editor = await h.tokenFor('editor', 'sender');
    expect((await send('Desk-Editor@example.org', editor)).statusCode).toBe(200);
    expect((await send('desk@partner.example.net', editor)).statusCode).toBe(200);
    const third = await send('anyone@agency.example.com', editor);
    expect([third.statusCode, third.json().error, third.headers['retry-after'] !== undefined]).toEqual([
      429,
      'too_many_requests',
      true,
    ]);
    // Another person's budget is their own.
    expect((await send('anyone@agency.example.com')).statusCode).toBe(200);
    expect(smtp.messages.map((m) => m.to[0]).sort()).toEqual([
      'anyone@agency.example.com',
      'desk-editor@example.org',
      'desk@partner.example.net',
    ]);
    const audited = await h.ctx.db
      .selectFrom('audit')
      .select('details')
      .where('release_id', '=', release.id)
      .where('action', '=', 'test-send')
      .execute();
    expect(audited).toHaveLength(3);
  });
});

describe('CSV imports', () => {
  const importCsv = (listId: number, csv: string | Readable, headers: Record<string, string> = {}) =>
    h.app.inject({
      method: 'POST',
      url: `/api/lists/${listId}/subscribers/import`,
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'text/csv', ...headers },
      payload: csv,
    });
  const members = async (listId: number) =>
    (await h.ctx.db.selectFrom('list_members').select('subscriber_id').where('list_id', '=', listId).execute()).length;

  it('refuse a file over MAX_IMPORT_BYTES before writing a row, and stop a longer stream at the limit', async () => {
    const list = (await h.api('POST', '/api/lists', { name: 'Too big' })).json.id;
    const rows = ['email', ...Array.from({ length: 1500 }, (_, i) => `big${i}@example.org`)].join('\n');
    const declared = await importCsv(list, rows);
    expect([declared.statusCode, declared.json().error]).toEqual([413, 'payload_too_large']);
    expect(await members(list)).toBe(0);
    // Without a declared length (a chunked upload) the stream stops at the limit.
    const streamed = await importCsv(list, Readable.from([Buffer.from(rows)]));
    expect(streamed.statusCode).toBe(413);
    const report = streamed.json().details.report;
    expect(report.added).toBe(await members(list));
    expect(report.added).toBeLessThan(1500);
  });

  it('list the first 1,000 bad lines, count the rest, and refuse an overlong record', async () => {
    const list = (await h.api('POST', '/api/lists', { name: 'Mostly junk' })).json.id;
    const junk = ['email', ...Array.from({ length: 1200 }, (_, i) => `x${i}`), 'good@example.org'].join('\n');
    const answer = await importCsv(list, junk);
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toMatchObject({ added: 1, invalidCount: 1200 });
    expect(answer.json().invalid).toHaveLength(MAX_INVALID_LISTED);
    expect(answer.json().invalid[0]).toEqual({ line: 2, reason: expect.stringMatching(/^email: /) });

    const long = ['email,name', `long@example.org,${'n'.repeat(12_000)}`, 'after@example.org,After'].join('\n');
    const refused = await importCsv(list, long);
    expect(refused.statusCode).toBe(200);
    expect(refused.json().invalid[0]).toEqual({
      line: 2,
      reason: 'unreadable CSV: a line longer than 10000 characters',
    });
    expect(
      await h.ctx.db.selectFrom('subscribers').select('id').where('email_key', '=', 'long@example.org').execute(),
    ).toEqual([]);
  });
});

describe('resubscribing', () => {
  it('works only through a fresh confirmation link for the unsubscribe it answers, and mails a few a day at most', async () => {
    const list = await listWith(h, 'Resubscribe', [{ email: 'returner@example.org' }]);
    const subscriber = await subscriberId('returner@example.org');
    const unsubscribePath = `/unsubscribe/${signUnsubscribeToken(h.ctx.keys, subscriber, list)}`;
    const post = (url: string) =>
      h.app.inject({
        method: 'POST',
        url,
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        payload: 'List-Unsubscribe=One-Click',
      });
    const status = async () =>
      (
        await h.ctx.db
          .selectFrom('list_members')
          .select('status')
          .where('subscriber_id', '=', subscriber)
          .executeTakeFirstOrThrow()
      ).status;
    expect((await post(unsubscribePath)).statusCode).toBe(200);

    smtp.messages.length = 0;
    for (let i = 0; i < 3; i++) expect((await post(`${unsubscribePath}/resubscribe`)).statusCode).toBe(200);
    const fourth = await post(`${unsubscribePath}/resubscribe`);
    expect([fourth.statusCode, fourth.body.includes('already sent')]).toEqual([429, true]);
    const mails = await smtp.waitFor(3);
    expect(mails).toHaveLength(3);
    const link = /https:\/\/news\.example\.org(\/resubscribe\/\S+)/.exec(mails[0]!.mail.text!)![1]!;

    // Expired: a link sealed 48 hours ago.
    const membership = await h.ctx.db
      .selectFrom('list_members')
      .select('unsubscribed_at')
      .where('subscriber_id', '=', subscriber)
      .executeTakeFirstOrThrow();
    const stale = h.ctx.keys.sealUntil(
      'resubscribe',
      `${subscriber}.${list}.${membership.unsubscribed_at!.getTime()}`,
      new Date(Date.now() - 1000),
    );
    expect((await post(`/resubscribe/${stale}`)).statusCode).toBe(410);
    expect(await status()).toBe('unsubscribed');

    // Unsubscribed again since the link was sent: it no longer resubscribes.
    await h.ctx.db
      .updateTable('list_members')
      .set({ unsubscribed_at: new Date(Date.now() + 5000) })
      .where('subscriber_id', '=', subscriber)
      .execute();
    const outdated = await post(link);
    expect([outdated.statusCode, outdated.body.includes('no longer valid')]).toEqual([410, true]);
    expect(await status()).toBe('unsubscribed');
  });
});
