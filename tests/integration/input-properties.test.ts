import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { footprint, listWith } from '../support/fixtures.js';
import { createHarness, type Harness } from '../support/harness.js';

let h: Harness;
let listId: number;

beforeAll(async () => {
  h = await createHarness();
  listId = await listWith(h, 'Property desk', [{ email: 'first@example.org', name: 'First' }]);
});
afterAll(async () => h?.close());

/** Markup, template syntax and look-alikes that must come out of the email as plain text. */
const markup = [
  '<script>alert(1)</script>',
  '"><img src=x onerror=alert(1)>',
  "'><svg onload=alert(1)>",
  '{{name}}',
  '{{{bodyHtml}}}',
  '&amp;',
  '&lt;b&gt;',
  '</title></head>',
  "'; DROP TABLE releases; --",
  'javascript:alert(1)',
  'Zoë',
  '이정민',
  '\u202e',
];
/** Input that breaks the rules: control characters, lone surrogates, blanks. */
const broken = ['\r\nBcc: all@example.org', '\n', '\u0000', '\ud800', ' ', ''];

/** Plausible text carrying markup: what a careless or hostile editor types into a form. */
const plausible = fc
  .array(fc.oneof(fc.constantFrom(...markup), fc.string({ unit: 'grapheme', maxLength: 10 })), {
    minLength: 1,
    maxLength: 4,
  })
  .map((parts) => parts.join(''));
/** Anything at all in place of a field: wrong text, wrong types. */
const anything = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 40 }),
  fc.constantFrom(...broken),
  plausible.chain((p) => fc.constantFrom(...broken).map((b) => p + b)),
  fc.integer(),
  fc.boolean(),
  fc.constant(null),
  fc.array(fc.integer(), { maxLength: 3 }),
  fc.dictionary(fc.string({ maxLength: 4 }), fc.integer(), { maxKeys: 2 }),
);
/** Mostly a plausible value, sometimes anything, sometimes missing: about half of all payloads are accepted. */
const field = <T>(good: fc.Arbitrary<T>) =>
  fc.option(fc.oneof({ weight: 7, arbitrary: good }, { weight: 1, arbitrary: anything }), { nil: undefined, freq: 12 });

const inADay = () => ({ at: new Date(Date.now() + 86_400_000).toISOString() });
const releaseBody = fc.record({
  title: field(plausible),
  summary: field(plausible),
  body: field(plausible),
  embargo: field(
    fc.oneof(
      { weight: 4, arbitrary: fc.constant(null).map(inADay) },
      fc.record({ at: anything }),
      fc.record({ local: anything, timeZone: anything }),
    ),
  ),
  listIds: field(fc.constant(null).map(() => [listId])),
});
const address = fc.oneof(
  {
    weight: 3,
    arbitrary: fc
      .tuple(fc.stringMatching(/^[a-z0-9][a-z0-9.+_-]{0,12}$/), fc.constantFrom('example.org', 'presse.example.de'))
      .map(([local, domain]) => `${local}@${domain}`),
  },
  fc.emailAddress(),
);
const subscriberBody = fc.record({ email: field(address), name: field(plausible), outlet: field(plausible) });

/** A stored field that carries markup must reach the HTML only escaped: its raw form never appears. */
function expectEscaped(html: string, value: string | null | undefined) {
  // No live script or event handler in any tag (the body's Markdown may keep a plain <img>, sanitised);
  // quoted attribute values are blanked first, since escaped text inside them is harmless.
  for (const tag of html.match(/<[a-z][^>]*>/gi) ?? []) {
    expect(tag.replace(/"[^"]*"|'[^']*'/g, '""')).not.toMatch(/^<script|\son[a-z]+\s*=/i);
  }
  if (value && /[<>]/.test(value)) expect(html).not.toContain(value);
}

/** How often generated input got through, so a generator that only ever produces refusals shows. */
const accepted = { releases: 0, subscribers: 0, withMarkup: 0 };
afterAll(() => {
  console.info(`accepted: ${JSON.stringify(accepted)}`);
  expect(accepted.releases).toBeGreaterThan(0);
  expect(accepted.subscribers).toBeGreaterThan(0);
  expect(accepted.withMarkup).toBeGreaterThan(0);
});

describe('generated input', () => {
  it('at POST /api/releases: never a 500, never a partial write, never an unescaped field in the email', async () => {
    await fc.assert(
      fc.asyncProperty(releaseBody, async (payload) => {
        const before = await footprint(h);
        const answer = await h.api('POST', '/api/releases', JSON.stringify(payload), {
          'content-type': 'application/json',
        });
        expect(answer.status).toBeLessThan(500);
        if (answer.status !== 201) {
          expect(answer.json).toMatchObject({
            error: expect.any(String),
            message: expect.any(String),
            details: expect.any(Object),
          });
          expect(await footprint(h)).toEqual(before);
          return;
        }
        const stored = await h.ctx.db
          .selectFrom('releases')
          .select(['title', 'summary'])
          .where('id', '=', answer.json.id)
          .executeTakeFirstOrThrow();
        const html = (await h.api('GET', `/api/releases/${answer.json.id}/preview?format=html`)).body;
        expectEscaped(html, stored.title);
        expectEscaped(html, stored.summary);
        accepted.releases += 1;
        if (/[<>]/.test(stored.title + (stored.summary ?? ''))) accepted.withMarkup += 1;
      }),
      { numRuns: 60 },
    );
  });

  it('at POST /api/lists/:id/subscribers: never a 500, never a partial write, never an unescaped field in the email', async () => {
    await fc.assert(
      fc.asyncProperty(subscriberBody, async (payload) => {
        // A list of its own, so the preview of a release to it is addressed to this subscriber.
        const list = (await h.api('POST', '/api/lists', { name: 'One reader' })).json.id as number;
        const before = await footprint(h);
        const answer = await h.api('POST', `/api/lists/${list}/subscribers`, JSON.stringify(payload), {
          'content-type': 'application/json',
        });
        expect(answer.status).toBeLessThan(500);
        if (answer.status >= 300) {
          expect(answer.json).toMatchObject({
            error: expect.any(String),
            message: expect.any(String),
            details: expect.any(Object),
          });
          expect(await footprint(h)).toEqual(before);
          return;
        }
        const created = await h.api('POST', '/api/releases', {
          title: 'Property',
          body: 'Body',
          embargo: { at: new Date(Date.now() + 86_400_000).toISOString() },
          listIds: [list],
        });
        const html = (await h.api('GET', `/api/releases/${created.json.id}/preview?format=html`)).body;
        expectEscaped(html, answer.json.name);
        accepted.subscribers += 1;
        if (/[<>]/.test(answer.json.name ?? '')) accepted.withMarkup += 1;
      }),
      { numRuns: 40 },
    );
  });
});
