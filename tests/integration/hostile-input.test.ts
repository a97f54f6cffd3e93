import { Readable } from 'node:stream';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelease, footprint, listWith } from '../support/fixtures.js';
import { createHarness, type Harness } from '../support/harness.js';

let h: Harness;
let listId: number;

beforeAll(async () => {
  h = await createHarness();
  listId = await listWith(h, 'Hostile desk', [{ email: 'kept@example.org', name: 'Kept' }]);
});
afterAll(async () => h?.close());

const inAnHour = () => new Date(Date.now() + 3_600_000);
const release = (overrides: Record<string, unknown> = {}) => ({
  title: 'Title',
  body: 'Body',
  embargo: { at: inAnHour().toISOString() },
  listIds: [listId],
  ...overrides,
});

describe('hostile input is refused whole, naming the field', () => {
  const lookalikes = [
    'a@b',
    'a@localhost',
    'a..b@example.org',
    '.a@example.org',
    'a.@example.org',
    'a@example..org',
    'a@-example.org',
    'a@example.org.',
    'a b@example.org',
    '"a b"@example.org',
    'a@[127.0.0.1]',
    'a@123.45.67.89',
    'аdmin@example.org',
    'a@exаmple.org',
    '<a@example.org>',
    'a@example.org>',
    'a@example.org,b@example.org',
    'a@example.org;b@example.org',
    'a@example.org\r\nBcc: all@example.org',
    'a@example.org\nX-Injected: 1',
  ];
  it.each(lookalikes)('refuses the address %j', async (email) => {
    const before = await footprint(h);
    const answer = await h.api('POST', `/api/lists/${listId}/subscribers`, { email });
    expect(answer.status).toBe(400);
    expect(answer.json).toMatchObject({ error: 'invalid_input', message: expect.stringMatching(/^email: /) });
    expect(await footprint(h)).toEqual(before);
  });

  // CR/LF in titles, subscriber names and addresses: tests/integration/api-input.test.ts.
  const headerInjections: Array<[string, string, () => Promise<{ status: number; json: any }>]> = [
    [
      'outlet',
      'an outlet',
      () => h.api('POST', `/api/lists/${listId}/subscribers`, { email: 'o@example.org', outlet: 'Daily\nX-Spam: no' }),
    ],
    ['name', 'a list name', () => h.api('POST', '/api/lists', { name: 'Desk\r\nBcc: x@y.org' })],
  ];
  it.each(headerInjections)('refuses CR/LF in %s (%s)', async (field, _what, call) => {
    const before = await footprint(h);
    const answer = await call();
    expect(answer.status).toBe(400);
    expect(answer.json.message).toMatch(new RegExp(`^${field}: .*line breaks`));
    expect(await footprint(h)).toEqual(before);
  });

  it('refuses a 20 MB body with 413 before reading it all', async () => {
    const before = await footprint(h);
    const answer = await h.api(
      'POST',
      '/api/releases',
      JSON.stringify(release({ body: 'x'.repeat(20 * 1024 * 1024) })),
      { 'content-type': 'application/json' },
    );
    expect(answer.status).toBe(413);
    expect(answer.json).toMatchObject({ error: 'payload_too_large' });
    expect(await footprint(h)).toEqual(before);
  });

  it('refuses invalid UTF-8 instead of storing replacement characters', async () => {
    const before = await footprint(h);
    const json = Buffer.from(JSON.stringify(release({ title: 'Caf_' })));
    const broken = Buffer.concat([
      json.subarray(0, json.indexOf('_')),
      Buffer.from([0xc3, 0x28]),
      json.subarray(json.indexOf('_') + 1),
    ]);
    const answer = await h.app.inject({
      method: 'POST',
      url: '/api/releases',
      payload: broken,
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json' },
    });
    expect(answer.statusCode).toBe(400);
    expect(answer.json()).toMatchObject({
      error: 'invalid_encoding',
      message: expect.stringMatching(/^body: .*UTF-8/),
    });
    expect(await footprint(h)).toEqual(before);
  });

  it.each([
    [
      'title',
      () =>
        h.api('POST', '/api/releases', JSON.stringify(release({ title: 'Caf\ud800' })), {
          'content-type': 'application/json',
        }),
    ],
    [
      'body',
      () =>
        h.api('POST', '/api/releases', JSON.stringify(release({ body: '\udfffBody' })), {
          'content-type': 'application/json',
        }),
    ],
    [
      'name',
      () =>
        h.api(
          'POST',
          `/api/lists/${listId}/subscribers`,
          JSON.stringify({ email: 's@example.org', name: 'Zo\ud83d' }),
          { 'content-type': 'application/json' },
        ),
    ],
  ] as const)('refuses a lone surrogate (a \\ud800 escape) in %s', async (field, call) => {
    const before = await footprint(h);
    const answer = await call();
    expect(answer.status).toBe(400);
    expect(answer.json.message).toMatch(new RegExp(`^${field}: must be valid Unicode`));
    expect(await footprint(h)).toEqual(before);
  });

  const malformed: Array<[string, string, Record<string, string>, number, RegExp]> = [
    ['a JSON array', '[1, 2]', { 'content-type': 'application/json' }, 400, /^body: /],
    ['JSON null', 'null', { 'content-type': 'application/json' }, 400, /^body: /],
    [
      'a prototype-poisoning key',
      '{"__proto__": {"admin": true}, "title": "x"}',
      { 'content-type': 'application/json' },
      400,
      /./,
    ],
    ['plain text', 'hello', { 'content-type': 'text/plain' }, 415, /application\/json/],
    ['XML', '<release/>', { 'content-type': 'application/xml' }, 415, /application\/json/],
  ];
  it.each(malformed)('refuses %s', async (_what, payload, headers, status, message) => {
    const before = await footprint(h);
    const answer = await h.api('POST', '/api/releases', payload, headers);
    expect(answer.status).toBe(status);
    expect(answer.json).toMatchObject({
      error: expect.any(String),
      message: expect.stringMatching(message),
      details: expect.any(Object),
    });
    expect(await footprint(h)).toEqual(before);
  });
});

describe('markup in any text field stays text', () => {
  const attack = `<script>alert("x")</script><img src=x onerror="alert(1)">`;

  it('is escaped in the email, the preview and its text part, and returned verbatim as JSON data', async () => {
    const list = await listWith(h, `Desk ${attack}`, [
      { email: 'pat@example.org', name: `Pat ${attack}`, outlet: `Times ${attack}` },
    ]);
    const created = await createRelease(h, [list], inAnHour(), {
      title: `Title ${attack}`,
      summary: `Summary ${attack}`,
      body: `Body ${attack}`,
    });
    const html = (await h.api('GET', `/api/releases/${created.id}/preview?format=html`)).body;
    expect(html).not.toMatch(/<script|<img[^>]*onerror/i);
    expect(html).toContain('Title &lt;script&gt;');
    expect(html).toContain('Pat &lt;script&gt;');
    expect(html).toContain('Summary &lt;script&gt;');

    const api = await h.app.inject({
      method: 'GET',
      url: `/api/releases/${created.id}`,
      headers: { authorization: `Bearer ${h.token}` },
    });
    expect(api.headers['content-type']).toMatch(/^application\/json/);
    expect(api.json().title).toBe(`Title ${attack}`);
  });
});

describe('CSV import', () => {
  const importCsv = (body: string | Buffer | Readable) =>
    h.app.inject({
      method: 'POST',
      url: `/api/lists/${listId}/subscribers/import`,
      payload: body,
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'text/csv' },
    });
  const member = async (email: string) =>
    (
      await sql<{
        name: string | null;
        outlet: string | null;
      }>`SELECT name, outlet FROM subscribers WHERE email_key = lower(${email})`.execute(h.ctx.db)
    ).rows[0];

  it('reads a byte-order mark, quoted commas and line breaks, non-ASCII names and duplicate rows', async () => {
    const csv = [
      '\uFEFFemail,name,outlet',
      'bom@example.org,"Lovelace, Ada","The ""Engine"", Weekly"',
      'multi@example.org,"Grace',
      'Hopper",Navy',
      'zoe@example.org,Zoë Müller,Süddeutsche',
      'jm@example.kr,이정민,한겨레',
      'dup@example.org,First,',
      'DUP@example.org,Second,',
      'not-an-address,Nobody,',
      'crlf@example.org,"Eve\r\nBcc: x@y.org",',
    ].join('\r\n');
    const answer = await importCsv(csv);
    expect(answer.statusCode).toBe(200);
    const report = answer.json();
    expect(report).toMatchObject({ added: 6 });
    // Line numbers are where a row ends, counted as an editor shows them.
    expect(report.invalid).toEqual([{ line: 9, reason: expect.stringMatching(/^email: /) }]);
    expect(await member('bom@example.org')).toEqual({ name: 'Lovelace, Ada', outlet: 'The "Engine", Weekly' });
    // A quoted line break stays inside its field, and a wrapped cell becomes one line: no header can be forged.
    expect(await member('multi@example.org')).toEqual({ name: 'Grace Hopper', outlet: 'Navy' });
    expect(await member('crlf@example.org')).toEqual({ name: 'Eve Bcc: x@y.org', outlet: null });
    expect(await member('zoe@example.org')).toMatchObject({ name: 'Zoë Müller', outlet: 'Süddeutsche' });
    expect(await member('jm@example.kr')).toMatchObject({ name: '이정민' });
    expect(await member('dup@example.org')).toMatchObject({ name: 'Second' });
  });

  it('streams 100,000 rows without holding the file in memory', async () => {
    const rows = 100_000;
    const list = (await h.api('POST', '/api/lists', { name: 'Hundred thousand' })).json.id as number;
    function* lines() {
      yield 'email,name\n';
      for (let i = 0; i < rows; i += 1000) {
        let chunk = '';
        for (let j = i; j < i + 1000; j++) chunk += `bulk${j}@example.org,Reader ${j}${j % 1000 === 7 ? ',,' : ''}\n`;
        // Duplicates in the same file: the later row wins, and the address counts once.
        if (i === 0) chunk += 'bulk1@example.org,Reader one again\n';
        yield chunk;
      }
    }
    // What the import holds, not the garbage a busy machine leaves uncollected: each sample is taken
    // after a full collection (vitest.config.ts starts test processes with --expose-gc).
    const retained = () => {
      global.gc!();
      return process.memoryUsage().heapUsed;
    };
    const heapBefore = retained();
    let peak = heapBefore;
    const sampler = setInterval(() => (peak = Math.max(peak, retained())), 250);
    const answer = await h.app.inject({
      method: 'POST',
      url: `/api/lists/${list}/subscribers/import`,
      payload: Readable.from(lines()),
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'text/csv' },
    });
    clearInterval(sampler);
    expect(answer.statusCode).toBe(200);
    expect(answer.json()).toMatchObject({ added: rows, invalid: [] });
    const { rows: counted } = await sql<{
      n: number;
    }>`SELECT count(*)::int AS n FROM list_members WHERE list_id = ${list}`.execute(h.ctx.db);
    expect(counted[0]!.n).toBe(rows);
    expect(await member('bulk1@example.org')).toMatchObject({ name: 'Reader one again' });
    // The file is 3.5 MB of text and its rows, parsed and kept, 13 MB of heap; streamed, the import
    // keeps about one batch of 1,000 rows (measured 0.7 to 1.1 MB retained).
    const growthMb = (peak - heapBefore) / 1024 / 1024;
    console.info(`CSV import of ${rows} rows: retained heap grew by at most ${growthMb.toFixed(1)} MB`);
    expect(growthMb).toBeLessThan(3);
  });
});
