import { sql } from 'kysely';
import { describe, expect, it } from 'vitest';
import { claimBatch, freezeAudienceChunk, recordSent, releaseClaims, renewLease } from '../../src/db/deliveries.js';
import { findRelease } from '../../src/db/releases.js';
import { beginSending } from '../../src/releases/lifecycle.js';
import { createRelease, listWith, releaseReaches, scheduleIn } from '../support/fixtures.js';
import { waitUntil } from '../support/harness.js';
import { useProcessHarness } from '../support/process-harness.js';
import { gateFor } from '../support/smtp.js';

// Real worker processes: a process can be frozen (SIGSTOP) like a VM or a long GC pause.
const t = useProcessHarness();

/** One batch for the whole release, sent one message at a time, under a short lease. */
const ONE_SLOW_BATCH = { SEND_BATCH_SIZE: '50', SEND_CONCURRENCY: '1', SMTP_POOL_SIZE: '1' };
const people = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => ({ email: `${prefix}${i}@example.org` }));
/** How many copies of a release each address was accepted. */
const copies = (releaseId: number) => {
  const counts = new Map<string, number>();
  for (const m of t.smtp.messages.filter((m) => m.mail.messageId!.startsWith(`<release-${releaseId}.`)))
    counts.set(m.to[0]!, (counts.get(m.to[0]!) ?? 0) + 1);
  return counts;
};
const states = async (releaseId: number) =>
  (
    await sql<{ email: string; state: string }>`
    SELECT s.email, d.state FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.release_id = ${releaseId} ORDER BY s.email`.execute(
      t.h.ctx.db,
    )
  ).rows;

describe('leases are owned', () => {
  it('a worker frozen past its lease while another takes over sends nothing more when it wakes', async () => {
    // The second worker takes the frozen one's job over when its BullMQ lock lapses, or restores it in a sweep.
    const env = { ...ONE_SLOW_BATCH, LEASE_SECONDS: '2', JOB_LOCK_MS: '3000', RECONCILE_INTERVAL_SECONDS: '2' };
    const first = await t.worker(env);
    const list = await listWith(t.h, 'Frozen desk', people('frozen', 12));
    // The frozen worker's message in flight is refused when it is finally answered, as a relay
    // would refuse a transaction it timed out: it was never accepted, so it cannot arrive twice.
    t.smtp.respond = (to, attempt) =>
      to === 'frozen5@example.org' && attempt === 1 ? { code: 451, message: '4.4.2 timeout' } : undefined;
    const gate = gateFor(t.smtp, 'frozen5@example.org');
    const { id } = await scheduleIn(t.h, [list], 1500);
    await gate.reached;
    await waitUntil(
      async () => (await states(id)).filter((r) => r.state === 'sent').length === 5,
      10_000,
      'five copies recorded',
    );

    first.kill('SIGSTOP');
    await t.worker(env); // takes the rows over once the frozen worker's lease has ended
    await releaseReaches(t.h, id, 'sent');
    expect([...copies(id).values()].every((n) => n === 1)).toBe(true);
    gate.open();
    first.kill('SIGCONT');

    // The woken worker stops before its next message; were it to go on, its copies would show here.
    const twice = () => [...copies(id).entries()].filter(([, n]) => n > 1).map(([to]) => to);
    await waitUntil(
      async () =>
        twice().length > 0 || first.logs.some((l) => l.msg === 'the rest of the batch goes back to the queue'),
      30_000,
      'the woken worker to stop',
    );
    expect(twice()).toEqual([]);
    expect(first.logs.some((l) => typeof l.msg === 'string' && /stopping before the next message/.test(l.msg))).toBe(
      true,
    );
    expect([...copies(id).keys()].sort()).toEqual(
      people('frozen', 12)
        .map((p) => p.email)
        .sort(),
    );
    expect((await states(id)).every((r) => r.state === 'sent')).toBe(true);
  });

  it('a failing suppression insert does not stop the lease of the rest of the batch', async () => {
    // The first insert into suppressions fails (a sequence is not rolled back with the statement).
    await sql`CREATE SEQUENCE suppression_failures`.execute(t.h.ctx.db);
    await sql`CREATE FUNCTION fail_first_suppression() RETURNS trigger LANGUAGE plpgsql AS $$
      BEGIN IF nextval('suppression_failures') = 1 THEN RAISE EXCEPTION 'could not extend file: No space left on device'; END IF; RETURN NEW; END $$`.execute(
      t.h.ctx.db,
    );
    await sql`CREATE TRIGGER fail_first_suppression BEFORE INSERT ON suppressions FOR EACH ROW EXECUTE FUNCTION fail_first_suppression()`.execute(
      t.h.ctx.db,
    );
    try {
      t.smtp.delayMs = 100;
      t.smtp.respond = (to) =>
        to === 'bounce1@example.org' ? { code: 550, message: '5.1.1 no such mailbox' } : undefined;
      await t.worker({ ...ONE_SLOW_BATCH, LEASE_SECONDS: '1', SEND_BACKOFF_MS: '200' });
      const list = await listWith(t.h, 'Bounce desk', people('bounce', 30));
      const { id } = await scheduleIn(t.h, [list], 1500);

      const release = await releaseReaches(t.h, id, 'sent');
      expect(release.counts).toMatchObject({ sent: 29, failed: 1, queued: 0, sending: 0 });
      const counts = copies(id);
      expect([...counts.entries()].filter(([, n]) => n > 1)).toEqual([]);
      expect([...counts.keys()].sort()).toEqual(
        people('bounce', 30)
          .map((p) => p.email)
          .filter((e) => e !== 'bounce1@example.org')
          .sort(),
      );
      const failed = await sql<{
        attempts: number;
      }>`SELECT attempts FROM deliveries WHERE release_id = ${id} AND state = 'failed'`.execute(t.h.ctx.db);
      expect(failed.rows).toEqual([{ attempts: 1 }]);
      const suppressed = await t.h.ctx.db
        .selectFrom('suppressions')
        .select('reason')
        .where('email_key', '=', 'bounce1@example.org')
        .executeTakeFirst();
      expect(suppressed?.reason).toMatch(/^550 5\.1\.1/);
    } finally {
      await sql`DROP TRIGGER fail_first_suppression ON suppressions`.execute(t.h.ctx.db);
    }
  });

  it("renewal, recording and handing back all require the claim's token", async () => {
    const list = await listWith(t.h, 'Token desk', people('token', 2));
    const release = await createRelease(t.h, [list], new Date(Date.now() + 3_600_000));
    expect((await t.h.api('POST', `/api/releases/${release.id}/lift`, { reason: 'now' })).status).toBe(200);
    const [lifted] = await beginSending(t.h.ctx, [(await findRelease(t.h.ctx.db, release.id))!]);
    const { queuedIds: ids } = await freezeAudienceChunk(t.h.ctx.db, {
      releaseId: release.id,
      version: 2,
      phase: 'lift',
      instant: lifted!.lifted_at!,
      afterSubscriberId: 0,
      chunkSize: 10,
    });
    const first = await claimBatch(t.h.ctx.db, ids, 60);
    expect(first.deliveries).toHaveLength(2);
    await sql`UPDATE deliveries SET lease_until = now() - interval '1 second' WHERE id = ANY(${ids}::bigint[])`.execute(
      t.h.ctx.db,
    );
    const second = await claimBatch(t.h.ctx.db, ids, 60);
    expect(second.deliveries).toHaveLength(2);

    expect(await renewLease(t.h.ctx.db, ids, first.token, 60)).toEqual(new Set());
    expect(
      await recordSent(t.h.ctx.db, [{ id: ids[0]!, token: first.token, messageId: '<stale@example.org>' }]),
    ).toEqual(new Set());
    await releaseClaims(t.h.ctx.db, [{ id: ids[1]!, error: 'stale' }], first.token);
    const held = await t.h.ctx.db
      .selectFrom('deliveries')
      .select(['state', 'claim_token'])
      .where('id', 'in', ids)
      .execute();
    expect(held).toEqual([
      { state: 'sending', claim_token: second.token },
      { state: 'sending', claim_token: second.token },
    ]);

    expect(await renewLease(t.h.ctx.db, ids, second.token, 60)).toEqual(new Set(ids));
    expect(
      await recordSent(t.h.ctx.db, [{ id: ids[0]!, token: second.token, messageId: '<fresh@example.org>' }]),
    ).toEqual(new Set([ids[0]]));
    const { rows } = await sql<{
      early: boolean;
    }>`SELECT sent_at > now() AS early FROM deliveries WHERE id = ${ids[0]!}`.execute(t.h.ctx.db);
    expect(rows).toEqual([{ early: false }]);
  });
});
