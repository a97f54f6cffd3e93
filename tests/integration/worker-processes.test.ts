import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { listWith, releaseReaches, scheduleIn } from '../support/fixtures.js';
import { liftJobId } from '../../src/releases/jobs.js';
import { useProcessHarness } from '../support/process-harness.js';
import { instantPassed, queuesSettled } from '../support/queues.js';

// Real worker processes (`presslift worker`), so clocks and restarts are those of a process.
const FAST_CLOCK = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../support/fast-clock.mjs');

const t = useProcessHarness();
const { worker } = t;
const people = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => ({ email: `${prefix}${i}@example.org` }));
const sortedRecipients = () => t.smtp.messages.map((m) => m.to[0]).sort();

describe('worker processes and the embargo', () => {
  it("a worker whose clock runs 4 s fast sends nothing before the embargo as PostgreSQL reads it, and records by PostgreSQL's clock", async () => {
    const fast = await worker({ NODE_OPTIONS: `--import=${FAST_CLOCK}`, CLOCK_SKEW_MS: '4000' });
    const list = await listWith(t.h, 'Skewed', people('skew', 3));
    const vetted = await listWith(t.h, 'Skewed vetted', people('skew-vetted', 1));
    const { id, embargoAt } = await scheduleIn(t.h, [list], 3500, { advance: { listIds: [vetted], leadSeconds: 1 } });

    await releaseReaches(t.h, id, 'sent');
    expect(sortedRecipients()).toEqual([
      'skew-vetted0@example.org',
      'skew0@example.org',
      'skew1@example.org',
      'skew2@example.org',
    ]);
    for (const message of t.smtp.messages)
      expect(message.startedAt).toBeGreaterThanOrEqual(
        embargoAt.getTime() - (message.to[0]!.startsWith('skew-vetted') ? 1000 : 0),
      );
    // The skew was real: the fast clock fired the lift early, and PostgreSQL's clock held it back.
    const heldBack = await fast.waitForLog(
      'lift job fired before the embargo by the database clock; delaying it',
      1000,
    );
    expect(heldBack.remainingMs).toBeGreaterThan(1000);

    // Every recorded time is PostgreSQL's: within moments of the relay's acceptance, not 4 s ahead.
    const acceptedAt = new Map(t.smtp.messages.map((m) => [m.to[0]!, m.receivedAt]));
    const rows = await t.h.ctx.db
      .selectFrom('deliveries as d')
      .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
      .select(['s.email', 'd.sent_at'])
      .where('d.release_id', '=', id)
      .execute();
    for (const row of rows)
      expect(Math.abs(row.sent_at!.getTime() - acceptedAt.get(row.email)!), row.email).toBeLessThan(1500);
    const release = await t.h.ctx.db.selectFrom('releases').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
    const lift = t.smtp.messages.filter((m) => !m.to[0]!.startsWith('skew-vetted')).map((m) => m.receivedAt);
    expect(Math.abs(release.first_sent_at!.getTime() - Math.min(...lift))).toBeLessThan(1500);
    expect(Math.abs(release.last_sent_at!.getTime() - Math.max(...lift))).toBeLessThan(1500);
    expect(Math.abs(release.advance_sent_at!.getTime() - acceptedAt.get('skew-vetted0@example.org')!)).toBeLessThan(
      1500,
    );
  });

  it('two worker processes share the work: every recipient once, none early', async () => {
    await Promise.all([worker({ SEND_BATCH_SIZE: '1' }), worker({ SEND_BATCH_SIZE: '1' })]);
    const list = await listWith(t.h, 'Pair', people('pair', 6));
    const { id, embargoAt } = await scheduleIn(t.h, [list], 2000);

    const release = await releaseReaches(t.h, id, 'sent');
    expect(release.counts).toMatchObject({ sent: 6, queued: 0, sending: 0, failed: 0 });
    // Every job either worker could still run has finished: a duplicate would have arrived.
    await queuesSettled(t.h.ctx);
    expect(sortedRecipients()).toEqual(
      people('pair', 6)
        .map((p) => p.email)
        .sort(),
    );
    const rows = await t.h.ctx.db
      .selectFrom('deliveries')
      .select(['state', 'attempts'])
      .where('release_id', '=', id)
      .execute();
    expect(rows).toEqual(people('pair', 6).map(() => ({ state: 'sent', attempts: 1 })));
    for (const message of t.smtp.messages) expect(message.startedAt).toBeGreaterThanOrEqual(embargoAt.getTime());
  });

  it('an embargo that passes while no worker runs is sent once a worker restarts, with the lag logged and shown', async () => {
    const first = await worker();
    const list = await listWith(t.h, 'Late', people('late', 3));
    const { id, embargoAt } = await scheduleIn(t.h, [list], 1500);
    first.kill('SIGTERM');
    expect(await first.exited).toBe(0);

    // Not an absence window: no worker runs, so nothing can send; the embargo must be well past
    // (the lag asserted below) before a worker starts again.
    await instantPassed(embargoAt.getTime() + 1500);
    expect(t.smtp.messages).toHaveLength(0);
    expect((await t.h.api('GET', `/api/releases/${id}`)).json.status).toBe('scheduled');
    // Its lift job is due and still in the queue, untaken.
    expect(['delayed', 'waiting']).toContain(await t.h.ctx.queues.lift.getJobState(liftJobId(id, 1)));

    const restartedAt = Date.now();
    const second = await worker();
    const release = await releaseReaches(t.h, id, 'sent');
    expect(sortedRecipients()).toEqual(['late0@example.org', 'late1@example.org', 'late2@example.org']);
    for (const message of t.smtp.messages) expect(message.startedAt).toBeGreaterThanOrEqual(restartedAt);
    expect(release.liftLagMs).toBeGreaterThanOrEqual(1500);
    const lifted = await second.waitForLog(/^embargo lifted/, 1000);
    expect(lifted).toMatchObject({ releaseId: id, lagMs: release.liftLagMs });
  });
});
