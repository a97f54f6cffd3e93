import { expect, it } from 'vitest';
import { databaseNow } from '../../src/db/releases';
import { LIFT_PREPARE_MS } from '../../src/embargo/lift-jobs';
import { listWith, releaseStatus, scheduleIn } from '../support/fixtures';
import { waitUntil } from '../support/harness';
import { useSmtpHarness } from '../support/smtp-harness';

const t = useSmtpHarness({ SMTP_POOL_SIZE: '2' });

it('has every worker process open its relay connections before the instant, not only the one that lifts', async () => {
  const { h, smtp } = t;
  await h.startWorkers(); // a second worker process: its own SMTP pool and render cache
  const list = await listWith(h, 'Prepared desk', [{ email: 'grace@example.org', name: 'Grace' }]);
  expect(smtp.connections).toBe(0);
  const { id, embargoAt } = await scheduleIn(h, [list], LIFT_PREPARE_MS + 2000);

  // Two processes with two connections each: all four are open while the release is still embargoed.
  await waitUntil(async () => smtp.connections >= 4, 30_000, 'both workers to open their relay connections');
  expect((await databaseNow(h.ctx.db)).getTime()).toBeLessThan(embargoAt.getTime());
  expect(smtp.messages).toEqual([]);

  await waitUntil(async () => (await releaseStatus(h, id)).status === 'sent', 30_000, 'release sent');
  expect(smtp.messages.map((m) => m.to[0])).toEqual(['grace@example.org']);
  expect(smtp.messages[0]!.startedAt).toBeGreaterThanOrEqual(embargoAt.getTime());
  // Both used what they opened: no connection was opened after the instant.
  expect(smtp.connections).toBe(4);
});
