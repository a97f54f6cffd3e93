import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { RELEASES_PAGE } from '../../src/db/releases.js';
import { consoleClient } from '../support/console-client.js';
import { createHarness, type Harness } from '../support/harness.js';
import { createRelease, listWith } from '../support/fixtures.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

it('pages GET /api/releases newest embargo first with a cursor: every release once, ties by id, same views as one page', async () => {
  const list = await listWith(h, 'Paged', [{ email: 'ada@example.org' }]);
  const base = Date.now() + 86_400_000;
  // Three share one embargo, so the order within it (by id) decides page boundaries.
  const offsets = [5, 1, 3, 3, 3, 9, 2];
  for (const hours of offsets) await createRelease(h, [list], new Date(base + hours * 3_600_000));
  // One release with delivery rows, to see its counts on a page.
  const { rows } = await sql<{ id: number }>`SELECT id FROM releases ORDER BY id LIMIT 1`.execute(h.ctx.db);
  const counted = rows[0]!.id;
  const subscriber = (await h.ctx.db.selectFrom('subscribers').select('id').executeTakeFirstOrThrow()).id;
  await sql`INSERT INTO deliveries (release_id, release_version, subscriber_id, list_id, phase, state, not_before) VALUES (${counted}, 1, ${subscriber}, ${list}, 'lift', 'sent', now())`.execute(
    h.ctx.db,
  );

  const whole = await h.api('GET', '/api/releases');
  expect(whole.status).toBe(200);
  expect(whole.json.nextCursor).toBeNull();
  const expected = [...whole.json.items]
    .sort((a, b) => b.embargoAt.localeCompare(a.embargoAt) || b.id - a.id)
    .map((r) => r.id);
  expect(whole.json.items.map((r: { id: number }) => r.id)).toEqual(expected);

  const paged = [];
  let cursor: number | null = null;
  let pages = 0;
  do {
    const page = await h.api('GET', `/api/releases?limit=3${cursor ? `&cursor=${cursor}` : ''}`);
    expect(page.status).toBe(200);
    paged.push(...page.json.items);
    cursor = page.json.nextCursor;
    pages += 1;
  } while (cursor !== null && pages < 10);
  expect(paged.map((r) => r.id)).toEqual(expected);
  expect(paged).toEqual(whole.json.items);
  expect(paged.find((r) => r.id === counted).counts.sent).toBe(1);
  expect(paged.every((r) => r.listIds.length === 1 && r.listIds[0] === list)).toBe(true);
  // What GET /api/releases/:id says of a release, the page says too, all but the body.
  const { body, ...summary } = (await h.api('GET', `/api/releases/${counted}`)).json;
  expect(body).toEqual(expect.any(String));
  expect(paged.find((r) => r.id === counted)).toEqual(summary);
  expect(paged.every((r) => !('body' in r))).toBe(true);
});

it('refuses a cursor or limit that makes no sense with a 400 naming it', async () => {
  for (const [url, field] of [
    ['/api/releases?cursor=999999', 'cursor'],
    ['/api/releases?cursor=x', 'cursor'],
    ['/api/releases?limit=0', 'limit'],
    ['/api/releases?limit=201', 'limit'],
  ]) {
    const answer = await h.api('GET', url!);
    expect(answer.status).toBe(400);
    expect(answer.body).toContain(field);
  }
});

it("pages the console's releases list as the API pages them, and its live counts poll that same page", async () => {
  const list = await listWith(h, 'Console paged', [{ email: 'grace@example.org' }]);
  const base = Date.now() + 2 * 86_400_000;
  for (let i = 0; i < 53; i++) await createRelease(h, [list], new Date(base + (i % 5) * 3_600_000));
  const admin = consoleClient(h, '192.0.2.40');
  expect((await admin.setUpFirstAdmin('pages-admin@example.org')).answer.statusCode).toBe(303);

  const rowIds = (body: string) => [...body.matchAll(/data-release-row="(\d+)"/g)].map((m) => Number(m[1]));
  const pollUrl = (body: string) => /data-release-page="([^"]+)"/.exec(body)![1]!.replaceAll('&amp;', '&');
  const olderLink = (body: string) => /href="(\/console\/releases\?after=\d+)" rel="next"/.exec(body)?.[1];

  const seen: number[] = [];
  let url: string | undefined = '/console/releases';
  let pages = 0;
  while (url && pages < 5) {
    const page = await admin.request({ method: 'GET', url });
    expect(page.statusCode).toBe(200);
    const ids = rowIds(page.body);
    expect(ids.length).toBeLessThanOrEqual(RELEASES_PAGE);
    // The poll asks for exactly the releases the page shows, in its order.
    const polled = await h.api('GET', pollUrl(page.body));
    expect(polled.json.items.map((r: { id: number }) => r.id)).toEqual(ids);
    seen.push(...ids);
    url = olderLink(page.body);
    pages += 1;
  }
  const all: number[] = [];
  for (let cursor: number | null | undefined; cursor !== null;) {
    const page = await h.api('GET', `/api/releases?limit=200${cursor ? `&cursor=${cursor}` : ''}`);
    all.push(...page.json.items.map((r: { id: number }) => r.id));
    cursor = page.json.nextCursor;
  }
  expect(all.length).toBeGreaterThan(RELEASES_PAGE);
  expect(pages).toBe(Math.ceil(all.length / RELEASES_PAGE));
  expect(seen).toEqual(all);

  const unknown = await admin.request({ method: 'GET', url: '/console/releases?after=999999' });
  expect(unknown.statusCode).toBe(400);
  expect(unknown.body).toContain('after');
});
