import net from 'node:net';
import { expect, it } from 'vitest';
import { databaseNow } from '../../src/db/releases.js';
import { LIFT_PREPARE_MS } from '../../src/releases/jobs.js';
import { createRedis } from '../../src/queue/redis.js';
import { listWith, releaseStatus, scheduleIn } from '../support/fixtures.js';
import { createHarness, waitUntil } from '../support/harness.js';
import { useSmtpHarness } from '../support/smtp-harness.js';

const t = useSmtpHarness({ SMTP_POOL_SIZE: '2' });

it('has every worker process open its relay connections before the instant, not only the one that lifts', async () => {
  const { h, smtp } = t;
  await h.startWorkers(); // a second worker process: its own SMTP pool and render cache
  const list = await listWith(h, 'Prepared desk', [{ email: 'grace@example.org', name: 'Grace' }]);
  expect(smtp.connections).toBe(0);
  // What the lift tells the other workers, as anyone with access to Redis would see it.
  const listener = createRedis(h.ctx.config, 'worker');
  const announcements: string[] = [];
  listener.on('message', (_channel, message: string) => announcements.push(message));
  await listener.subscribe(`${h.ctx.config.QUEUE_PREFIX}:prepare`);
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
  // Ids only, never the embargoed text (invariant 4).
  expect(announcements.map((a) => JSON.parse(a))).toEqual([{ releaseId: id, version: 1 }]);
  listener.disconnect();
});

it('lifts on time even when the relay never answers the connections opened before the instant', async () => {
  // A relay that accepts connections and never greets: each connection waits out SMTP_TIMEOUT_MS.
  const silent = net.createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
  const { port } = silent.address() as net.AddressInfo;
  const h = await createHarness({ SMTP_URL: `smtp://127.0.0.1:${port}`, SMTP_TIMEOUT_MS: '5000', SMTP_POOL_SIZE: '2' });
  try {
    await h.startWorkers();
    const list = await listWith(h, 'Silent desk', [{ email: 'ada@example.org', name: 'Ada' }]);
    const { id } = await scheduleIn(h, [list], LIFT_PREPARE_MS + 1500);
    await waitUntil(async () => (await releaseStatus(h, id)).status !== 'scheduled', 30_000, 'the lift');
    const release = await h.ctx.db
      .selectFrom('releases')
      .select(['lifted_at', 'send_at'])
      .where('id', '=', id)
      .executeTakeFirstOrThrow();
    expect(release.lifted_at!.getTime() - release.send_at.getTime()).toBeLessThan(1000);
  } finally {
    await h.close();
    silent.close();
  }
});
