import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { listWith, releaseReaches, scheduleIn } from '../support/fixtures.js';
import { createHarness, type Harness } from '../support/harness.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

/**
 * Pacing through the real send path: a paced domain's rows are handed back for later instead of
 * holding a lane, so recipients at other domains finish first; a 421 slows down its own domain only.
 */
let h: Harness;
let smtp: TestSmtp;

beforeAll(async () => {
  smtp = await startSmtp();
  // Mixed batches, one worker, and one attempt only: a slow-down must not spend it.
  h = await createHarness({
    SMTP_URL: smtp.url,
    DOMAIN_LIMITS: 'paced.test=2/s',
    SEND_BATCH_SIZE: '6',
    SEND_CONCURRENCY: '2',
    SEND_ATTEMPTS: '1',
    SMTP_SLOW_DOWN_MS: '3000',
  });
  await h.startWorkers();
});
afterAll(async () => {
  await h?.close();
  await smtp?.close();
});

const people = (domain: string, n: number) => Array.from({ length: n }, (_, i) => ({ email: `r${i}@${domain}` }));
const arrivals = (domain: string) =>
  smtp.messages.filter((m) => m.to[0]!.endsWith(`@${domain}`)).map((m) => m.receivedAt);

async function statesOf(releaseId: number) {
  const { rows } = await sql<{
    state: string;
    n: number;
  }>`SELECT state, count(*)::int AS n FROM deliveries WHERE release_id = ${releaseId} GROUP BY state`.execute(h.ctx.db);
  return Object.fromEntries(rows.map((r) => [r.state, r.n]));
}

describe('pacing per destination while sending', () => {
  it('holds a paced domain to its rate while the other domains finish first', async () => {
    smtp.messages.length = 0;
    const list = await listWith(
      h,
      'Mixed',
      [...people('paced.test', 8), ...people('free.test', 16)].sort((a, b) => a.email.localeCompare(b.email)),
    );
    const { id } = await scheduleIn(h, [list], 1000);
    await releaseReaches(h, id, 'sent', 60_000);
    expect(await statesOf(id)).toEqual({ sent: 24 });
    const paced = arrivals('paced.test');
    const free = arrivals('free.test');
    expect([paced.length, free.length]).toEqual([8, 16]);
    // Every free.test copy was out before the paced domain's last ones.
    expect(Math.max(...free)).toBeLessThan(paced.sort((a, b) => a - b)[5]!);
    // 2 a second with a burst of 2: no second holds more than 2 + 2 of them, and 8 take about 3 s.
    for (const start of paced)
      expect(paced.filter((t) => t >= start && t < start + 1000).length).toBeLessThanOrEqual(4);
    expect(paced[7]! - paced[0]!).toBeGreaterThanOrEqual(2500);
  }, 90_000);

  it('slows down only the domain that answered 421, without spending an attempt', async () => {
    smtp.messages.length = 0;
    // A relay slow enough that the release's batches are still coming when the first 421 arrives.
    smtp.delayMs = 200;
    smtp.respond = (rcpt, attempt) =>
      rcpt.endsWith('@busy.test') && attempt === 1
        ? { code: 421, message: '4.7.0 Try again later, closing connection' }
        : undefined;
    try {
      // More calm.test batches than the worker runs at once: a worker-wide pause would hold them back.
      const list = await listWith(h, 'Busy', [...people('busy.test', 3), ...people('calm.test', 27)]);
      const { id } = await scheduleIn(h, [list], 1000);
      await releaseReaches(h, id, 'sent', 60_000);
      expect(await statesOf(id)).toEqual({ sent: 30 });
      const busy = arrivals('busy.test');
      const calm = arrivals('calm.test');
      expect([busy.length, calm.length]).toEqual([3, 27]);
      // The other domain went on: it never waited out busy.test's 3 s pause (a worker-wide pause
      // left a gap that long in calm.test's copies), and was done before busy.test's retry.
      const sorted = [...calm].sort((a, b) => a - b);
      expect(Math.max(...sorted.slice(1).map((t, i) => t - sorted[i]!))).toBeLessThan(3000);
      expect(Math.max(...calm)).toBeLessThan(Math.min(...busy));
      const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM suppressions`.execute(h.ctx.db);
      expect(rows[0]!.n).toBe(0);
    } finally {
      smtp.respond = undefined;
      smtp.delayMs = 0;
    }
  }, 90_000);
});
