import { expect, it } from 'vitest';
import { databaseNow } from '../../src/db/releases.js';
import { LIFT_PREPARE_MS } from '../../src/releases/jobs.js';
import { listWith, releaseStatus, scheduleIn } from '../support/fixtures.js';
import { waitUntil } from '../support/harness.js';
import { useSmtpHarness } from '../support/smtp-harness.js';

const t = useSmtpHarness();

it('compiles the email before the instant, but lifts and sends only from the instant on', async () => {
  const { h, smtp } = t;
  const list = await listWith(h, 'Prepared desk', [
    { email: 'ada@example.org', name: 'Ada' },
    { email: 'jm@example.kr', name: '이정민' },
  ]);
  // The lift job fires LIFT_PREPARE_MS before the instant; a compile takes far less than that.
  const { id, embargoAt } = await scheduleIn(h, [list], LIFT_PREPARE_MS + 2000);

  // The compile happened early: its row exists while PostgreSQL's clock is still before the embargo.
  await waitUntil(
    async () =>
      (await h.ctx.db
        .selectFrom('release_renders')
        .select('release_id')
        .where('release_id', '=', id)
        .executeTakeFirst()) ?? false,
    30_000,
    'the compile of the release',
  );
  expect((await databaseNow(h.ctx.db)).getTime()).toBeLessThan(embargoAt.getTime());
  expect((await releaseStatus(h, id)).status).toBe('scheduled');
  expect(await h.ctx.db.selectFrom('deliveries').select('id').where('release_id', '=', id).execute()).toEqual([]);
  expect(smtp.messages).toEqual([]);

  await waitUntil(async () => (await releaseStatus(h, id)).status === 'sent', 30_000, 'release sent');
  expect(smtp.messages.map((m) => m.to[0]).sort()).toEqual(['ada@example.org', 'jm@example.kr']);
  for (const message of smtp.messages) expect(message.startedAt).toBeGreaterThanOrEqual(embargoAt.getTime());
  const release = await h.ctx.db
    .selectFrom('releases')
    .select(['lifted_at', 'embargo_at'])
    .where('id', '=', id)
    .executeTakeFirstOrThrow();
  expect(release.lifted_at!.getTime()).toBeGreaterThanOrEqual(release.embargo_at.getTime());
});
