import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sql } from 'kysely';
import { createHarness, type Harness } from '../support/harness.js';
import { listWith } from '../support/fixtures.js';

let h: Harness;
let listId: number;

beforeAll(async () => {
  h = await createHarness({ MAX_BODY_BYTES: '5000', EMBARGO_MIN_LEAD_SECONDS: '10' });
  listId = await listWith(h, 'Input desk', [{ email: 'kept@example.org', name: 'Kept' }]);
});
afterAll(async () => h?.close());

const future = () => new Date(Date.now() + 3_600_000).toISOString();
const rowCount = async (table: 'releases' | 'subscribers' | 'lists' | 'release_lists' | 'audit') =>
  Number((await sql<{ n: number }>`SELECT count(*)::int AS n FROM ${sql.table(table)}`.execute(h.ctx.db)).rows[0]!.n);
const snapshot = async () => ({
  releases: await rowCount('releases'),
  subscribers: await rowCount('subscribers'),
  lists: await rowCount('lists'),
  releaseLists: await rowCount('release_lists'),
  audit: await rowCount('audit'),
});
const release = (overrides: Record<string, unknown>) => ({
  title: 'Title',
  body: 'Body',
  embargo: { at: future() },
  listIds: [listId],
  ...overrides,
});

describe('bad input is refused whole, with a 4xx naming the field', () => {
  const cases: Array<[string, () => Promise<{ status: number; json: any }>, number, RegExp]> = [
    [
      'an invalid email',
      () => h.api('POST', `/api/lists/${listId}/subscribers`, { email: 'not-an-address' }),
      400,
      /^email:/,
    ],
    [
      'an email with a line break',
      () => h.api('POST', `/api/lists/${listId}/subscribers`, { email: 'a@b.org\r\nBcc: x@y.org' }),
      400,
      /^email:/,
    ],
    [
      'a name with a line break',
      () => h.api('POST', `/api/lists/${listId}/subscribers`, { email: 'n@example.org', name: 'A\nB' }),
      400,
      /^name:/,
    ],
    [
      'an unknown list for a subscriber',
      () => h.api('POST', '/api/lists/999999/subscribers', { email: 'x@example.org' }),
      404,
      /list 999999/,
    ],
    [
      'an unknown list for a release',
      () => h.api('POST', '/api/releases', release({ listIds: [listId, 424242] })),
      400,
      /^listIds: .*424242/,
    ],
    ['an empty list set', () => h.api('POST', '/api/releases', release({ listIds: [] })), 400, /^listIds:/],
    [
      'a malformed embargo',
      () => h.api('POST', '/api/releases', release({ embargo: { at: 'next friday' } })),
      400,
      /^embargo\.at:/,
    ],
    [
      'an embargo without an offset',
      () => h.api('POST', '/api/releases', release({ embargo: { at: '2031-10-18T00:01:00' } })),
      400,
      /^embargo\.at:/,
    ],
    [
      'a past embargo',
      () => h.api('POST', '/api/releases', release({ embargo: { at: '2019-10-18T00:01:00-04:00' } })),
      400,
      /^embargo: .*past/,
    ],
    [
      'an embargo closer than the minimum lead',
      () => h.api('POST', '/api/releases', release({ embargo: { at: new Date(Date.now() + 3000).toISOString() } })),
      400,
      /^embargo: .*10s/,
    ],
    [
      'an unknown time zone',
      () =>
        h.api('POST', '/api/releases', release({ embargo: { local: '2031-10-18T00:01', timeZone: 'Mars/Olympus' } })),
      400,
      /^embargo\.timeZone: .*Mars\/Olympus/,
    ],
    ['a missing title', () => h.api('POST', '/api/releases', release({ title: undefined })), 400, /^title:/],
    [
      'a title with a line break',
      () => h.api('POST', '/api/releases', release({ title: 'Hello\r\nBcc: all' })),
      400,
      /^title:/,
    ],
    [
      'an oversized body',
      () => h.api('POST', '/api/releases', release({ body: 'x'.repeat(100_000) })),
      413,
      /larger than allowed/,
    ],
    [
      'a body with a NUL byte (PostgreSQL cannot store it)',
      () => h.api('POST', '/api/releases', release({ body: 'text\u0000more' })),
      400,
      /^body:/,
    ],
    [
      'a body just over the limit',
      () => h.api('POST', '/api/releases', release({ body: 'x'.repeat(5001) })),
      400,
      /^body:/,
    ],
    [
      'malformed JSON',
      () => h.api('POST', '/api/releases', '{"title": ', { 'content-type': 'application/json' }),
      400,
      /not valid JSON/,
    ],
    [
      'a wrong content type',
      () => h.api('POST', '/api/releases', 'title=x', { 'content-type': 'application/x-www-form-urlencoded' }),
      415,
      /application\/json/,
    ],
    [
      'JSON sent to the CSV import',
      () => h.api('POST', `/api/lists/${listId}/subscribers/import`, { email: 'x@example.org' }),
      415,
      /text\/csv/,
    ],
    ['a non-numeric release id', () => h.api('GET', '/api/releases/abc'), 400, /^id:/],
  ];

  for (const [what, call, status, message] of cases) {
    it(`refuses ${what}`, async () => {
      const before = await snapshot();
      const response = await call();
      expect(response.status).toBe(status);
      expect(response.json).toMatchObject({ error: expect.any(String), details: expect.any(Object) });
      expect(response.json.message).toMatch(message);
      expect(await snapshot()).toEqual(before);
    });
  }

  it('refuses a request without a valid token', async () => {
    const response = await h.app.inject({
      method: 'GET',
      url: '/api/lists',
      headers: { authorization: 'Bearer nope' },
    });
    expect(response.statusCode).toBe(401);
  });

  it('refuses scheduling a release twice, leaving one lift job', async () => {
    const created = await h.api('POST', '/api/releases', release({}));
    expect(created.status).toBe(201);
    expect((await h.api('POST', `/api/releases/${created.json.id}/schedule`)).status).toBe(200);
    const again = await h.api('POST', `/api/releases/${created.json.id}/schedule`);
    expect(again.status).toBe(409);
    expect(again.json.message).toMatch(/scheduled/);
    expect(await h.ctx.queues.lift.getDelayedCount()).toBe(1);
  });
});

describe('releases', () => {
  it('answer with the embargo in UTC, the release zone and the display zones', async () => {
    const created = await h.api(
      'POST',
      '/api/releases',
      release({ embargo: { local: '2031-10-17T00:01', timeZone: 'America/New_York' } }),
    );
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({
      status: 'draft',
      embargoAt: '2031-10-17T04:01:00.000Z',
      embargoTimeZone: 'America/New_York',
      embargo: {
        local: { abbreviation: 'EDT', offset: '-04:00' },
        phrase: '00:01 EDT, Friday 17 October 2031 (04:01 UTC)',
      },
    });
    expect(created.json.embargo.displayZones.map((z: { timeZone: string }) => z.timeZone)).toContain('Asia/Seoul');
  });
});

describe('subscribers', () => {
  it('updates an address already on the list instead of duplicating it, ignoring case', async () => {
    const first = await h.api('POST', `/api/lists/${listId}/subscribers`, { email: 'Case@Example.org', name: 'First' });
    expect(first.status).toBe(201);
    const second = await h.api('POST', `/api/lists/${listId}/subscribers`, {
      email: 'case@example.ORG',
      name: 'Second',
      outlet: 'Daily',
    });
    expect(second.status).toBe(200);
    expect(second.json).toMatchObject({
      id: first.json.id,
      email: 'Case@Example.org',
      name: 'Second',
      outlet: 'Daily',
      status: 'active',
    });
  });

  it('never re-subscribes an address that unsubscribed from the list', async () => {
    const added = await h.api('POST', `/api/lists/${listId}/subscribers`, { email: 'left@example.org' });
    await h.ctx.db
      .updateTable('list_members')
      .set({ status: 'unsubscribed' })
      .where('subscriber_id', '=', added.json.id)
      .execute();
    const again = await h.api('POST', `/api/lists/${listId}/subscribers`, { email: 'left@example.org', name: 'Back?' });
    expect(again.json.status).toBe('unsubscribed');
  });
});

describe('CSV import', () => {
  it('keeps good lines and reports each bad one by line number', async () => {
    const list = (await h.api('POST', '/api/lists', { name: 'Import desk' })).json.id;
    const csv = [
      '\uFEFFEmail,Name,Outlet',
      'ana@example.org,"Ana, María",El Diario',
      'not-an-email,Bad,Row',
      '',
      'bo@example.org,"Bo ""The Pen"" Li","Line one',
      'line two"',
      'ANA@example.org,Ana María Again,',
      'zoe@example.org,Zoë Müller,Die Zeit',
      'bad@@example.org,,',
    ].join('\r\n');
    const response = await h.api('POST', `/api/lists/${list}/subscribers/import`, csv, { 'content-type': 'text/csv' });
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ added: 3, updated: 0 });
    expect(response.json.invalid).toEqual([
      { line: 3, reason: expect.stringMatching(/^email:/) },
      { line: 9, reason: expect.stringMatching(/^email:/) },
    ]);
    const rows = await h.ctx.db
      .selectFrom('subscribers')
      .innerJoin('list_members', 'list_members.subscriber_id', 'subscribers.id')
      .select(['email', 'name', 'outlet'])
      .where('list_members.list_id', '=', list)
      .orderBy('email')
      .execute();
    expect(rows).toEqual([
      { email: 'ana@example.org', name: 'Ana María Again', outlet: 'El Diario' },
      { email: 'bo@example.org', name: 'Bo "The Pen" Li', outlet: 'Line one line two' },
      { email: 'zoe@example.org', name: 'Zoë Müller', outlet: 'Die Zeit' },
    ]);
    const again = await h.api(
      'POST',
      `/api/lists/${list}/subscribers/import`,
      'email\nzoe@example.org\nnew@example.org\n',
      { 'content-type': 'text/csv' },
    );
    expect(again.json).toMatchObject({ added: 1, updated: 1, invalid: [] });
  });

  it('refuses a file without an email column', async () => {
    const response = await h.api('POST', `/api/lists/${listId}/subscribers/import`, 'name\nAda\n', {
      'content-type': 'text/csv',
    });
    expect(response.status).toBe(400);
    expect(response.json.message).toMatch(/email/);
  });
});
