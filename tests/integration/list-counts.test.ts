import { sql } from 'kysely';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { audienceSize, listMembers } from '../../src/db/console-views.js';
import { listLists } from '../../src/db/lists.js';
import { createHarness, type Harness } from '../support/harness.js';
import { listOfSize, listWith } from '../support/fixtures.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

/** What the lists page shows, and what counting the members says: they must agree. */
async function shownAndCounted() {
  const shown = Object.fromEntries((await listLists(h.ctx.db)).map((l) => [l.id, l.activeSubscribers]));
  const { rows } = await sql<{ id: number; active: number }>`
    SELECT l.id, count(m.subscriber_id) FILTER (WHERE m.status = 'active')::int AS active
    FROM lists l LEFT JOIN list_members m ON m.list_id = l.id GROUP BY l.id`.execute(h.ctx.db);
  return { shown, counted: Object.fromEntries(rows.map((r) => [r.id, r.active])) };
}

it('keeps each list’s active count right through imports, adds, unsubscribes, re-subscribes, moves, deletions and a deleted list', async () => {
  const empty = (await h.api('POST', '/api/lists', { name: 'Nobody yet' })).json.id as number;
  const big = await listOfSize(h, 'Imported', 500);
  const small = await listWith(h, 'Small', [
    { email: 'ada@example.org' },
    { email: 'bo@example.org' },
    { email: 'cy@example.org' },
  ]);
  let { shown, counted } = await shownAndCounted();
  expect(shown).toEqual(counted);
  expect([shown[empty], shown[big], shown[small]]).toEqual([0, 500, 3]);

  // An import that overlaps the list adds only the new addresses.
  const csv = ['email', ...Array.from({ length: 20 }, (_, i) => `reader${490 + i}@example.org`)].join('\n');
  expect(
    (await h.api('POST', `/api/lists/${big}/subscribers/import`, csv, { 'content-type': 'text/csv' })).status,
  ).toBe(200);
  // Unsubscribe many in one statement, re-subscribe some, move one member to another list, delete one.
  await sql`UPDATE list_members SET status = 'unsubscribed', unsubscribed_at = now() WHERE list_id = ${big} AND subscriber_id IN (SELECT subscriber_id FROM list_members WHERE list_id = ${big} ORDER BY subscriber_id LIMIT 100)`.execute(
    h.ctx.db,
  );
  await sql`UPDATE list_members SET status = 'active', unsubscribed_at = NULL WHERE list_id = ${big} AND subscriber_id IN (SELECT subscriber_id FROM list_members WHERE list_id = ${big} AND status = 'unsubscribed' ORDER BY subscriber_id LIMIT 30)`.execute(
    h.ctx.db,
  );
  await sql`UPDATE list_members SET list_id = ${empty} WHERE list_id = ${small} AND subscriber_id = (SELECT min(subscriber_id) FROM list_members WHERE list_id = ${small})`.execute(
    h.ctx.db,
  );
  await sql`DELETE FROM subscribers WHERE email = 'bo@example.org'`.execute(h.ctx.db);
  // A statement that touches rows but changes no status.
  await sql`UPDATE list_members SET subscribed_at = subscribed_at WHERE list_id = ${big}`.execute(h.ctx.db);
  ({ shown, counted } = await shownAndCounted());
  expect(shown).toEqual(counted);
  expect([shown[empty], shown[big], shown[small]]).toEqual([1, 510 - 100 + 30, 1]);

  // Deleting a list takes its members and its count with it; the others stay right.
  await sql`DELETE FROM lists WHERE id = ${small}`.execute(h.ctx.db);
  ({ shown, counted } = await shownAndCounted());
  expect(shown).toEqual(counted);
  const kept = await h.ctx.db.selectFrom('list_member_counts').select('list_id').execute();
  expect(kept.map((r) => r.list_id)).not.toContain(small);
});

it('counts a release’s audience as the lift would freeze it: active, unsuppressed, each person once', async () => {
  const people = ['an', 'bea', 'cal', 'dee'].map((n) => ({ email: `${n}@audience.example.org` }));
  const one = await listWith(h, 'Audience one', people);
  const two = await listWith(h, 'Audience two', [people[0]!, { email: 'eve@audience.example.org' }]);
  const member = async (email: string) =>
    (await h.ctx.db.selectFrom('subscribers').select('id').where('email', '=', email).executeTakeFirstOrThrow()).id;
  expect(
    (await h.api('DELETE', `/api/lists/${one}/subscribers/${await member('bea@audience.example.org')}`)).status,
  ).toBe(200);
  expect(
    (await h.api('POST', '/api/suppressions', { email: 'cal@audience.example.org', reason: 'asked' })).status,
  ).toBe(201);
  // What freezing the audience would take, counted the long way.
  const frozen = async (lists: number[]) => {
    const { rows } = await sql<{ n: number }>`
      SELECT count(DISTINCT m.subscriber_id)::int AS n FROM list_members m JOIN subscribers s ON s.id = m.subscriber_id
      WHERE m.list_id = ANY(${lists}::bigint[]) AND m.status = 'active'
        AND NOT EXISTS (SELECT 1 FROM suppressions x WHERE x.email_key = s.email_key)`.execute(h.ctx.db);
    return rows[0]!.n;
  };
  expect(await audienceSize(h.ctx.db, [one])).toBe(2);
  expect(await audienceSize(h.ctx.db, [one, two])).toBe(3);
  expect(await audienceSize(h.ctx.db, [one])).toBe(await frozen([one]));
  expect(await audienceSize(h.ctx.db, [one, two])).toBe(await frozen([one, two]));
  expect(await audienceSize(h.ctx.db, [])).toBe(0);
});

it('shows a list’s newest members first', async () => {
  const list = await listWith(h, 'Newest first', [
    { email: 'first@newest.example.org' },
    { email: 'second@newest.example.org' },
    { email: 'third@newest.example.org' },
  ]);
  expect((await listMembers(h.ctx.db, list, '')).map((m) => m.email)).toEqual([
    'third@newest.example.org',
    'second@newest.example.org',
    'first@newest.example.org',
  ]);
  expect((await listMembers(h.ctx.db, list, 'second')).map((m) => m.email)).toEqual(['second@newest.example.org']);
});
