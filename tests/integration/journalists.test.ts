import { sql } from 'kysely';
import ICAL from 'ical.js';
import { describe, expect, it } from 'vitest';
import { tombstoneHash } from '../../src/db/people.js';
import { createRelease, listWith } from '../support/fixtures.js';
import { waitUntil, type Harness } from '../support/harness.js';
import { useSmtpHarness } from '../support/smtp-harness.js';
import type { Received } from '../support/smtp.js';

const t = useSmtpHarness();

const form = (h: Harness, url: string, fields: Record<string, string | string[]>) => {
  const body = new URLSearchParams();
  for (const [key, value] of Object.entries(fields)) for (const v of [value].flat()) body.append(key, v);
  return h.app.inject({
    method: 'POST',
    url,
    payload: body.toString(),
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
  });
};
const get = (h: Harness, url: string) => h.app.inject({ method: 'GET', url });
const path = (link: string) => new URL(link).pathname;
const mailsTo = (address: string) => t.smtp.messages.filter((m) => m.to[0] === address.toLowerCase());
const linkIn = (mail: Received, pattern: RegExp) => pattern.exec(mail.mail.text ?? '')![0];

async function publicList(name: string, description: string | null = null) {
  const list = await t.h.api('POST', '/api/lists', { name });
  const opened = await t.h.api('PATCH', `/api/lists/${list.json.id}`, { public: true, description });
  expect(opened.status).toBe(200);
  return list.json.id as number;
}

/** Signs someone up through the public form and confirms from the emailed link; their preference page's path. */
async function signUpAndConfirm(email: string, listIds: number[], name = 'Reporter') {
  const before = mailsTo(email).length;
  const signed = await form(t.h, '/subscribe', {
    email,
    name,
    outlet: 'Daily Planet',
    list: listIds.map(String),
    consent: 'signup-2026-1',
    website: '',
  });
  expect(signed.statusCode).toBe(200);
  const [mail] = (
    await waitUntil(async () => mailsTo(email).length > before && mailsTo(email), 10_000, 'confirmation mail')
  ).slice(before);
  const confirm = path(linkIn(mail!, /https:\/\/news\.example\.org\/subscribe\/confirm\/\S+/));
  const confirmed = await form(t.h, confirm, {});
  expect(confirmed.statusCode).toBe(200);
  return /href="(\/preferences\/[^"]+)"/.exec(confirmed.body)![1]!;
}

describe('sign-up with double opt-in', () => {
  it('records the consent, mails one confirmation, and starts the membership only when the link is used', async () => {
    const lists = [await publicList('Science desk', 'Research news, weekly'), await publicList('Health desk')];
    await t.h.api('POST', '/api/lists', { name: 'Staff only' });
    const page = await get(t.h, '/subscribe');
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('Science desk');
    expect(page.body).toContain('Research news, weekly');
    expect(page.body).not.toContain('Staff only');

    const email = 'Ada@Example.org';
    const fields = {
      email,
      name: 'Ada Lovelace',
      outlet: 'The Engine',
      list: [String(lists[0])],
      consent: 'signup-2026-1',
      website: '',
    };
    const signed = await form(t.h, '/subscribe', fields);
    expect(signed.statusCode).toBe(200);
    expect(signed.body).toContain('Check your inbox');
    const [mail] = await waitUntil(async () => mailsTo(email).length === 1 && mailsTo(email), 10_000, 'confirmation');
    const confirmLink = linkIn(mail!, /https:\/\/news\.example\.org\/subscribe\/confirm\/\S+/);

    const { db } = t.h.ctx;
    const subscriber = await db
      .selectFrom('subscribers')
      .selectAll()
      .where('email_key', '=', 'ada@example.org')
      .executeTakeFirstOrThrow();
    // Until confirmed: no membership, so nothing can be sent; the consent is recorded as shown.
    expect(
      await db.selectFrom('list_members').selectAll().where('subscriber_id', '=', subscriber.id).execute(),
    ).toEqual([]);
    const consent = await db
      .selectFrom('consents')
      .selectAll()
      .where('subscriber_id', '=', subscriber.id)
      .executeTakeFirstOrThrow();
    expect(consent).toMatchObject({
      kind: 'signup',
      email,
      version: 'signup-2026-1',
      list_ids: [String(lists[0])],
      confirmed_at: null,
    });
    expect(consent.text).toMatch(/^I agree that Presslift Newsroom may send press releases/);
    expect(signed.body).not.toContain(consent.text); // the thanks page; the form carried the text:
    expect(page.body).toContain(consent.text);

    // Signing up again mails nothing more; a bot filling the honeypot gets the same page and nothing happens.
    expect((await form(t.h, '/subscribe', fields)).statusCode).toBe(200);
    expect(
      (await form(t.h, '/subscribe', { ...fields, email: 'bot@example.org', website: 'http://spam' })).statusCode,
    ).toBe(200);
    expect(mailsTo(email)).toHaveLength(1);
    expect(mailsTo('bot@example.org')).toHaveLength(0);
    expect(
      await db.selectFrom('subscribers').select('id').where('email_key', '=', 'bot@example.org').executeTakeFirst(),
    ).toBeUndefined();

    // Bad input: a 400 page naming the field, nothing written.
    const count = async () =>
      Number(
        (
          await sql<{
            n: number;
          }>`SELECT (SELECT count(*) FROM subscribers) + (SELECT count(*) FROM consents) + (SELECT count(*) FROM signups) AS n`.execute(
            db,
          )
        ).rows[0]!.n,
      );
    const rows = await count();
    for (const [bad, field] of [
      [{ ...fields, email: 'not an address' }, 'Email'],
      [{ ...fields, email: 'new@example.org', list: ['999999'] }, 'Lists'],
      [{ ...fields, email: 'new@example.org', consent: '' }, 'Consent'],
      [{ ...fields, email: 'new@example.org', name: 'x'.repeat(201) }, 'Name'],
    ] as Array<[Record<string, string | string[]>, string]>) {
      const refused = await form(t.h, '/subscribe', bad);
      expect(refused.statusCode).toBe(400);
      expect(refused.body).toContain(`${field}:`);
    }
    expect(await count()).toBe(rows);

    // Opening the link shows a button (a link scanner confirms nothing); pressing it confirms, once.
    expect((await get(t.h, path(confirmLink))).statusCode).toBe(200);
    expect(
      await db.selectFrom('list_members').selectAll().where('subscriber_id', '=', subscriber.id).execute(),
    ).toEqual([]);
    const confirmed = await form(t.h, path(confirmLink), {});
    expect(confirmed.body).toContain('You are subscribed');
    expect((await form(t.h, path(confirmLink), {})).statusCode).toBe(200);
    const members = await db
      .selectFrom('list_members')
      .select(['list_id', 'status'])
      .where('subscriber_id', '=', subscriber.id)
      .execute();
    expect(members).toEqual([{ list_id: lists[0], status: 'active' }]);
    const after = await db
      .selectFrom('consents')
      .select(['confirmed_at'])
      .where('id', '=', consent.id)
      .executeTakeFirstOrThrow();
    expect(after.confirmed_at).toBeInstanceOf(Date);
    expect(
      await db.selectFrom('signups').select('confirmed_at').where('subscriber_id', '=', subscriber.id).execute(),
    ).toHaveLength(2);
    // A forged link is the public 404.
    expect((await get(t.h, `${path(confirmLink).slice(0, -3)}abc`)).statusCode).toBe(404);
  });

  it('accepts an address with a Korean local part (RFC 6531)', async () => {
    const list = await publicList('Korea desk');
    const prefs = await signUpAndConfirm('이정민@example.kr', [list], '이정민');
    expect(prefs).toMatch(/^\/preferences\//);
    const row = await t.h.ctx.db
      .selectFrom('subscribers')
      .select(['id', 'email'])
      .where('email_key', '=', '이정민@example.kr')
      .executeTakeFirstOrThrow();
    expect(row.email).toBe('이정민@example.kr');
  });
});

describe('preferences, an access request and the advance copy', () => {
  it("keeps the zone, vets the application, and sends the advance copy with the embargo in the reader's zone and a calendar entry", async () => {
    const { db } = t.h.ctx;
    const general = await publicList('General news');
    const vetted = await listWith(t.h, 'Vetted reporters', []);
    const prefs = await signUpAndConfirm('grace@example.org', [general], 'Grace Hopper');

    // The preference page, by its signed link only: zone, plain text, lists.
    const page = await get(t.h, prefs);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain('<option value="Asia/Seoul"');
    expect(
      (
        await get(
          t.h,
          prefs.replace(/.$/, (c) => (c === 'A' ? 'B' : 'A')),
        )
      ).statusCode,
    ).toBe(404);
    const badZone = await form(t.h, prefs, { list: String(general), timeZone: 'Mars/Olympus' });
    expect([badZone.statusCode, badZone.body.includes('Time zone:')]).toEqual([400, true]);
    const saved = await form(t.h, prefs, { list: String(general), timeZone: 'Asia/Seoul' });
    expect(saved.statusCode).toBe(200);
    const person = await db
      .selectFrom('subscribers')
      .selectAll()
      .where('email_key', '=', 'grace@example.org')
      .executeTakeFirstOrThrow();
    expect([person.time_zone, person.plain_text, person.paused_until]).toEqual(['Asia/Seoul', false, null]);

    // The application for advance copies, with the embargo terms.
    const noTerms = await form(t.h, `${prefs}/access`, {
      outlet: 'Daily Planet',
      role: 'Science correspondent',
      workEmail: 'grace@planet.example',
      links: 'https://planet.example/grace',
    });
    expect([noTerms.statusCode, noTerms.body.includes('Embargo terms:')]).toEqual([400, true]);
    const applied = await form(t.h, `${prefs}/access`, {
      outlet: 'Daily Planet',
      role: 'Science correspondent',
      workEmail: 'grace@planet.example',
      links: 'https://planet.example/grace\nhttps://planet.example/grace/2',
      terms: 'embargo-2026-1',
    });
    expect(applied.statusCode).toBe(200);
    expect(applied.body).toContain('data-access-status="pending"');
    const terms = await db
      .selectFrom('consents')
      .selectAll()
      .where('subscriber_id', '=', person.id)
      .where('kind', '=', 'embargo-terms')
      .execute();
    expect(terms.map((c) => [c.version, c.email])).toEqual([['embargo-2026-1', 'grace@example.org']]);

    // Staff: the queue, then approval onto the vetted list; the applicant is told.
    const queue = await t.h.api('GET', '/api/access-requests');
    const request = queue.json.items.find((r: { email: string }) => r.email === 'grace@example.org');
    expect(request).toMatchObject({
      outlet: 'Daily Planet',
      role: 'Science correspondent',
      links: ['https://planet.example/grace', 'https://planet.example/grace/2'],
      status: 'pending',
    });
    const editor = await t.h.tokenFor('editor');
    expect(
      (
        await t.h.api(
          'POST',
          `/api/access-requests/${request.id}/decision`,
          { decision: 'approve', listIds: [] },
          { authorization: `Bearer ${editor}` },
        )
      ).status,
    ).toBe(400);
    const before = mailsTo('grace@example.org').length;
    const approved = await t.h.api(
      'POST',
      `/api/access-requests/${request.id}/decision`,
      { decision: 'approve', listIds: [vetted], note: 'Welcome aboard.' },
      { authorization: `Bearer ${editor}` },
    );
    expect(approved.status).toBe(200);
    expect((await t.h.api('POST', `/api/access-requests/${request.id}/decision`, { decision: 'refuse' })).status).toBe(
      409,
    );
    const told = await waitUntil(
      async () => mailsTo('grace@example.org').length > before && mailsTo('grace@example.org').at(-1),
      10_000,
      'decision mail',
    );
    expect(told.mail.subject).toBe('Advance copies: your application is accepted');
    expect(told.mail.text).toContain('Welcome aboard.');
    const decided = await db
      .selectFrom('access_requests')
      .selectAll()
      .where('id', '=', request.id)
      .executeTakeFirstOrThrow();
    expect([decided.status, decided.decided_by, decided.list_ids.map(Number)]).toEqual([
      'approved',
      expect.stringMatching(/^token:/),
      [vetted],
    ]);
    expect(
      await db
        .selectFrom('list_members')
        .select('status')
        .where('list_id', '=', vetted)
        .where('subscriber_id', '=', person.id)
        .executeTakeFirst(),
    ).toEqual({ status: 'active' });
    expect((await get(t.h, prefs)).body).toContain('data-access-status="approved"');

    // The advance copy: the embargo in Seoul's time and UTC, and the lift as a calendar entry.
    const embargoAt = new Date(Math.ceil((Date.now() + 6000) / 1000) * 1000);
    const release = await createRelease(t.h, [general], embargoAt, { advance: { listIds: [vetted], leadSeconds: 3 } });
    expect((await t.h.api('POST', `/api/releases/${release.id}/schedule`)).status).toBe(200);
    const copy = await waitUntil(
      async () => mailsTo('grace@example.org').find((m) => m.mail.subject?.startsWith('EMBARGOED')),
      30_000,
      'advance copy',
    );
    const seoul = embargoAt.toLocaleTimeString('en-GB', {
      timeZone: 'Asia/Seoul',
      hour: '2-digit',
      minute: '2-digit',
      hour12: false,
    });
    const utc = embargoAt.toISOString().slice(11, 16);
    expect(copy.mail.subject).toMatch(
      new RegExp(
        `^EMBARGOED — NOT FOR PUBLICATION UNTIL ${seoul} \\S+, \\w+ \\d+ \\w+ \\d{4} \\(${utc} UTC\\): Quantum sensor`,
      ),
    );
    expect(copy.mail.html).toContain(`NOT FOR PUBLICATION UNTIL ${seoul}`);
    expect(copy.mail.text).toContain(
      'Preferences (lists, time zone, plain text, a pause): https://news.example.org/preferences/',
    );
    expect(copy.raw).toMatch(/Content-Type: multipart\/mixed/);
    const ics = copy.mail.attachments.find((a) => a.filename === 'embargo.ics')!;
    expect(ics.contentType).toBe('text/calendar');
    const calendar = new ICAL.Component(ICAL.parse(ics.content.toString('utf8')));
    expect(calendar.getFirstPropertyValue('method')).toBe('PUBLISH');
    const event = new ICAL.Event(calendar.getFirstSubcomponent('vevent')!);
    expect(event.startDate.zone?.tzid).toBe('UTC');
    expect(event.startDate.toJSDate().getTime()).toBe(embargoAt.getTime());
    expect(event.uid).toBe(`release-${release.id}-embargo@news.example.org`);
    expect(event.sequence).toBe(release.version);
    expect(event.summary).toBe('Embargo lifts: Quantum sensor maps brain activity');
    const deliveries = await db
      .selectFrom('deliveries')
      .select(['phase', 'state', 'list_id'])
      .where('release_id', '=', release.id)
      .where('subscriber_id', '=', person.id)
      .execute();
    expect(deliveries).toEqual([{ phase: 'advance', state: 'sent', list_id: vetted }]);
  });
});

describe('bars of embargo breakers', () => {
  it('keep a barred person, or a barred domain, to lift copies, audited', async () => {
    const { db } = t.h.ctx;
    const vetted = await listWith(t.h, 'Vetted (bars)', [
      { email: 'breaker@leaky.example', name: 'Leaky' },
      { email: 'solo@example.org', name: 'Solo' },
      { email: 'kept@example.org', name: 'Kept' },
    ]);
    const solo = await db
      .selectFrom('subscribers')
      .select('id')
      .where('email_key', '=', 'solo@example.org')
      .executeTakeFirstOrThrow();
    expect(
      (await t.h.api('POST', '/api/bars', { domain: 'leaky.example', reason: 'Broke the 3 May embargo' })).status,
    ).toBe(201);
    expect(
      (
        await t.h.api('POST', '/api/bars', {
          subscriberId: solo.id,
          reason: 'Posted early',
          endsAt: '2099-01-01T00:00:00Z',
        })
      ).status,
    ).toBe(201);
    const both = await t.h.api('POST', '/api/bars', { subscriberId: solo.id, domain: 'x.org', reason: 'x' });
    expect([both.status, both.json.message]).toEqual([400, 'subscriberId: name either subscriberId or domain']);
    const embargoAt = new Date(Math.ceil((Date.now() + 5000) / 1000) * 1000);
    const nobody = await listWith(t.h, 'Nobody (bars)', []);
    const release = await createRelease(t.h, [nobody], embargoAt, { advance: { listIds: [vetted], leadSeconds: 3 } });
    expect((await t.h.api('POST', `/api/releases/${release.id}/schedule`)).status).toBe(200);
    await waitUntil(
      async () => (await t.h.api('GET', `/api/releases/${release.id}`)).json.status === 'sent',
      30_000,
      'sent',
    );
    const rows = await sql<{ email: string; phase: string; state: string }>`
      SELECT s.email, d.phase, d.state FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.release_id = ${release.id} ORDER BY s.email`.execute(
      db,
    );
    expect(rows.rows).toEqual([
      { email: 'breaker@leaky.example', phase: 'lift', state: 'sent' },
      { email: 'kept@example.org', phase: 'advance', state: 'sent' },
      { email: 'solo@example.org', phase: 'lift', state: 'sent' },
    ]);
    for (const who of ['breaker@leaky.example', 'solo@example.org']) {
      const got = mailsTo(who);
      expect(got).toHaveLength(1);
      expect(got[0]!.mail.subject).toBe('Quantum sensor maps brain activity');
      expect(got[0]!.startedAt).toBeGreaterThanOrEqual(embargoAt.getTime());
    }
    const audit = await db
      .selectFrom('audit')
      .select(['action', 'details'])
      .where('action', '=', 'bar.create')
      .execute();
    expect(audit.map((a) => (a.details as { domain: string | null }).domain)).toEqual(['leaky.example', null]);
  });
});

describe("the staff's view of people", () => {
  it("searches with keyset pages, exports one person, and erases them leaving only the tombstone's hash", async () => {
    const { db } = t.h.ctx;
    const list = await listWith(
      t.h,
      'Search list',
      Array.from({ length: 7 }, (_, i) => ({ email: `searchable${i}@paper.example`, name: `Reporter ${i}` })),
    );
    const seen: number[] = [];
    let cursor = 0;
    for (;;) {
      const page = await t.h.api('GET', `/api/subscribers?query=SEARCHABLE&list=${list}&limit=3&cursor=${cursor}`);
      expect(page.status).toBe(200);
      seen.push(...page.json.items.map((s: { id: number }) => s.id));
      if (page.json.nextCursor === null) break;
      cursor = page.json.nextCursor;
    }
    expect(seen).toHaveLength(7);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    const badLimit = await t.h.api('GET', '/api/subscribers?limit=0');
    expect([badLimit.status, badLimit.json.message]).toEqual([400, 'limit: must be at least 1']);
    expect((await t.h.api('GET', '/api/subscribers?query=100%25')).json.items).toEqual([]);

    // Someone with history: a membership, a consent, a delivery, a bounce, a suppression, audit lines.
    const address = 'Erase.Me@Example.org';
    const listId = await publicList('Erasure desk');
    const prefs = await signUpAndConfirm(address, [listId], 'Erin Erased');
    const person = await db
      .selectFrom('subscribers')
      .select(['id', 'email_key'])
      .where('email_key', '=', address.toLowerCase())
      .executeTakeFirstOrThrow();
    expect((await form(t.h, prefs, { list: String(listId), timeZone: 'Europe/Berlin' })).statusCode).toBe(200);
    const embargoAt = new Date(Date.now() + 2000);
    const release = await createRelease(t.h, [listId], embargoAt);
    await t.h.api('POST', `/api/releases/${release.id}/schedule`);
    await waitUntil(
      async () => (await t.h.api('GET', `/api/releases/${release.id}`)).json.status === 'sent',
      30_000,
      'sent',
    );
    await db
      .insertInto('mail_events')
      .values({
        kind: 'bounce',
        email_key: person.email_key,
        source: 'dsn',
        status: '5.1.1',
        diagnostic: `550 5.1.1 <${address}> unknown`,
        dedupe_key: 'erase-test',
        release_id: release.id,
      })
      .execute();
    expect((await t.h.api('POST', '/api/suppressions', { email: address, reason: 'bounced' })).status).toBe(201);
    await db
      .updateTable('deliveries')
      .set({ last_error: `relay said ${address} was full` })
      .where('subscriber_id', '=', person.id)
      .execute();

    const exported = await t.h.api('GET', `/api/subscribers/${person.id}/export`);
    expect(exported.status).toBe(200);
    expect(exported.json.subscriber).toMatchObject({ email: address, timeZone: 'Europe/Berlin' });
    expect(exported.json.memberships).toEqual([expect.objectContaining({ listId, status: 'active' })]);
    expect(exported.json.consents).toEqual([
      expect.objectContaining({ kind: 'signup', version: 'signup-2026-1', email: address }),
    ]);
    expect(exported.json.deliveries).toEqual([expect.objectContaining({ releaseId: release.id, state: 'sent' })]);
    expect(exported.json.mailEvents).toHaveLength(1);
    expect(exported.json.accessLog.map((a: { action: string }) => a.action)).toEqual(
      expect.arrayContaining(['signup.requested', 'signup.confirmed', 'preferences.saved']),
    );

    const erased = await t.h.api('DELETE', `/api/subscribers/${person.id}`);
    expect(erased.status).toBe(200);
    expect((await t.h.api('DELETE', `/api/subscribers/${person.id}`)).status).toBe(404);

    // Every text and JSON column of every table, searched for the address: nothing.
    const { rows: columns } = await sql<{ table_name: string; column_name: string }>`
      SELECT table_name, column_name FROM information_schema.columns
      WHERE table_schema = current_schema() AND data_type IN ('text', 'character varying', 'jsonb', 'ARRAY')`.execute(
      db,
    );
    expect(columns.length).toBeGreaterThan(40);
    const found: string[] = [];
    for (const c of columns) {
      const { rows } = await sql<{
        n: number;
      }>`SELECT count(*)::int AS n FROM ${sql.table(c.table_name)} WHERE ${sql.ref(c.column_name)}::text ILIKE ${'%erase.me@example.org%'}`.execute(
        db,
      );
      if (rows[0]!.n > 0) found.push(`${c.table_name}.${c.column_name}`);
    }
    expect(found).toEqual([]);
    // What stays: the tombstone's hash (suppressed), anonymous deliveries, the bounce counted under the hash, who erased.
    const hash = tombstoneHash(address);
    expect(await db.selectFrom('tombstones').select(['email_hash', 'suppressed']).execute()).toEqual([
      { email_hash: hash, suppressed: true },
    ]);
    expect(
      await db
        .selectFrom('deliveries')
        .select(['state', 'subscriber_id', 'last_error'])
        .where('release_id', '=', release.id)
        .execute(),
    ).toEqual([{ state: 'sent', subscriber_id: null, last_error: null }]);
    expect(
      await db
        .selectFrom('mail_events')
        .select(['email_key', 'diagnostic'])
        .where('dedupe_key', '=', 'erase-test')
        .execute(),
    ).toEqual([{ email_key: hash, diagnostic: null }]);
    const audit = await db
      .selectFrom('audit')
      .select(['actor', 'details'])
      .where('action', '=', 'subscriber.erase')
      .execute();
    expect(audit).toEqual([
      { actor: expect.stringMatching(/^token:/), details: { subscriberId: person.id, suppressed: true } },
    ]);
    // The suppression stays in force: staff adding the address again cannot make it a member.
    const again = await t.h.api('POST', `/api/lists/${listId}/subscribers`, { email: address });
    expect(again.json.status).toBe('not-member');
    expect(
      await db.selectFrom('list_members').select('status').where('subscriber_id', '=', again.json.id).execute(),
    ).toEqual([]);
  });
});

describe("the preference page's other settings", () => {
  it('sends plain text only, skips a paused reader, and changes the address only once the new one confirms', async () => {
    const { db } = t.h.ctx;
    const list = await publicList('Settings desk');
    const plainPrefs = await signUpAndConfirm('plain@example.org', [list], 'Plain Reader');
    const pausedPrefs = await signUpAndConfirm('paused@example.org', [list], 'Paused Reader');
    expect((await form(t.h, plainPrefs, { list: String(list), plainText: '1' })).statusCode).toBe(200);
    expect((await form(t.h, pausedPrefs, { list: String(list), pause: '14' })).statusCode).toBe(200);
    const badPause = await form(t.h, pausedPrefs, { list: String(list), pause: '3650' });
    expect([badPause.statusCode, badPause.body.includes('Pause:')]).toEqual([400, true]);

    const release = await createRelease(t.h, [list], new Date(Date.now() + 1500));
    await t.h.api('POST', `/api/releases/${release.id}/schedule`);
    await waitUntil(
      async () => (await t.h.api('GET', `/api/releases/${release.id}`)).json.status === 'sent',
      30_000,
      'sent',
    );
    const plain = mailsTo('plain@example.org').find((m) => m.mail.subject === 'Quantum sensor maps brain activity')!;
    expect(plain.mail.html).toBe(false);
    expect(plain.raw).toMatch(/^Content-Type: text\/plain; charset=utf-8$/m);
    expect(plain.raw).not.toMatch(/text\/html/);
    expect(plain.mail.text).toContain('Dear Plain Reader,');
    expect(
      mailsTo('paused@example.org').filter((m) => m.mail.subject === 'Quantum sensor maps brain activity'),
    ).toEqual([]);
    const rows = await sql<{ email: string; state: string; last_error: string | null }>`
      SELECT s.email, d.state, d.last_error FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.release_id = ${release.id} ORDER BY s.email`.execute(
      db,
    );
    expect(rows.rows).toEqual([
      { email: 'paused@example.org', state: 'skipped', last_error: 'paused by the subscriber' },
      { email: 'plain@example.org', state: 'sent', last_error: null },
    ]);

    // A new address: confirmed at the new address, and only then the subscriber's.
    const asked = await form(t.h, `${plainPrefs}/email`, { email: 'new.plain@example.org' });
    expect(asked.statusCode).toBe(200);
    const taken = await form(t.h, `${plainPrefs}/email`, { email: 'paused@example.org' });
    expect([taken.statusCode, taken.body.includes('another subscription already uses it')]).toEqual([400, true]);
    const link = path(
      linkIn(
        await waitUntil(async () => mailsTo('new.plain@example.org')[0], 10_000, 'change mail'),
        /https:\/\/news\.example\.org\/email-change\/\S+/,
      ),
    );
    const person = await db
      .selectFrom('subscribers')
      .select(['id', 'email', 'pending_email'])
      .where('email_key', '=', 'plain@example.org')
      .executeTakeFirstOrThrow();
    expect(person.pending_email).toBe('new.plain@example.org');
    expect((await get(t.h, link)).statusCode).toBe(200);
    expect((await form(t.h, link, {})).statusCode).toBe(200);
    expect(
      await db
        .selectFrom('subscribers')
        .select(['email', 'pending_email'])
        .where('id', '=', person.id)
        .executeTakeFirst(),
    ).toEqual({ email: 'new.plain@example.org', pending_email: null });
    expect((await form(t.h, link, {})).statusCode).toBe(404);
  });
});
