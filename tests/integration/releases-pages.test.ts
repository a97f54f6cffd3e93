import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
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
