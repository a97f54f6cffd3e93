import { sql } from 'kysely';
import { expect, it } from 'vitest';
import { LIFT_PREPARE_MS } from '../../src/releases/jobs.js';
import { createRelease, listWith, releaseStatus } from '../support/fixtures.js';
import { waitUntil } from '../support/harness.js';
import { useSmtpHarness } from '../support/smtp-harness.js';

// One row a send job and a first chunk of one: the lift's fan-out goes on from each first chunk.
const t = useSmtpHarness({ SEND_BATCH_SIZE: '1' });

const people = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => ({ email: `${prefix}${i}@example.org` }));

it('lifts the releases due at one instant with one statement, each to its whole audience once; one that moved on meanwhile lifts at its new instant', async () => {
  const { h, smtp } = t;
  const shared = { email: 'both@example.org' };
  const lists = [
    await listWith(h, 'Instant A', [...people('a', 3), shared]),
    await listWith(h, 'Instant B', [...people('b', 2), shared]),
    await listWith(h, 'Instant C', people('c', 2)),
  ];
  const embargoAt = new Date(Math.ceil((Date.now() + LIFT_PREPARE_MS + 2500) / 1000) * 1000);
  const ids: number[] = [];
  for (const list of lists) {
    const release = await createRelease(h, [list], embargoAt);
    expect((await h.api('POST', `/api/releases/${release.id}/schedule`)).status).toBe(200);
    ids.push(release.id);
  }
  // Every lift job has compiled its email and is waiting for the instant; then the third moves.
  await waitUntil(
    async () =>
      (await h.ctx.db.selectFrom('release_renders').select('release_id').where('release_id', 'in', ids).execute())
        .length === 3,
    30_000,
    'the lift jobs preparing',
  );
  const movedTo = new Date(embargoAt.getTime() + 2000);
  const moved = await h.api('PATCH', `/api/releases/${ids[2]}`, {
    embargo: { at: movedTo.toISOString(), timeZone: 'Europe/London' },
  });
  expect(moved.status).toBe(200);

  for (const id of ids) await waitUntil(async () => (await releaseStatus(h, id)).status === 'sent', 30_000, 'sent');

  const releases = await h.ctx.db
    .selectFrom('releases')
    .select(['id', 'version', 'lifted_at', sql<string>`lifted_at::text`.as('lifted_exactly')])
    .where('id', 'in', ids)
    .orderBy('id')
    .execute();
  // One UPDATE lifted the two left at the instant: one transaction, one now(), to the microsecond.
  expect(releases[0]!.lifted_at!.getTime()).toBeGreaterThanOrEqual(embargoAt.getTime());
  expect(releases[1]!.lifted_exactly).toBe(releases[0]!.lifted_exactly);
  // The one that moved was not lifted with them, but at its own instant, for its new version.
  expect(releases[2]!.version).toBe(2);
  expect(releases[2]!.lifted_at!.getTime()).toBeGreaterThanOrEqual(movedTo.getTime());

  const audit = await h.ctx.db
    .selectFrom('audit')
    .select(['release_id', 'details'])
    .where('release_id', 'in', ids)
    .where('action', '=', 'lifted')
    .orderBy('release_id')
    .execute();
  expect(audit.map((a) => a.release_id)).toEqual(ids);
  for (const entry of audit) expect((entry.details as { lagMs: number }).lagMs).toBeGreaterThanOrEqual(0);

  // Every delivery row ended sent, for the version lifted, once per person and release.
  const rows = await h.ctx.db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .select(['d.release_id', 'd.release_version', 'd.state', 's.email'])
    .where('d.release_id', 'in', ids)
    .orderBy('d.release_id')
    .orderBy('s.email')
    .execute();
  const expected = [
    ...['a0', 'a1', 'a2', 'both'].map((p) => [ids[0], 1, `${p}@example.org`]),
    ...['b0', 'b1', 'both'].map((p) => [ids[1], 1, `${p}@example.org`]),
    ...['c0', 'c1'].map((p) => [ids[2], 2, `${p}@example.org`]),
  ];
  expect(rows.map((r) => [r.release_id, r.release_version, r.email])).toEqual(expected);
  expect(new Set(rows.map((r) => r.state))).toEqual(new Set(['sent']));

  // What the relay received: each person once a release, none before its instant.
  expect(smtp.messages.map((m) => m.to[0]).sort()).toEqual(expected.map((e) => e[2]).sort());
  for (const message of smtp.messages) {
    const own = message.to[0]!.startsWith('c') ? movedTo : embargoAt;
    expect(message.startedAt).toBeGreaterThanOrEqual(own.getTime());
  }
});
