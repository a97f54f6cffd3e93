import { afterEach, describe, expect, it } from 'vitest';
import { unsubscribe } from '../../src/db/subscribers.js';
import { reconcile } from '../../src/pipeline/reconcile.js';
import { liftJobId } from '../../src/releases/jobs.js';
import { createRelease, listWith, releaseReaches } from '../support/fixtures.js';
import { watchBatchChecks } from '../support/batch-checks.js';
import { waitUntil } from '../support/harness.js';
import { gateFor } from '../support/smtp.js';
import { useSmtpHarness } from '../support/smtp-harness.js';

// One connection, one batch of two at a time, one attempt: a gate on one message holds the
// advance send in the middle, with one row claimed behind it and the rest still queued.
const t = useSmtpHarness({ SEND_BATCH_SIZE: '2', SEND_CONCURRENCY: '1', SMTP_POOL_SIZE: '1', SEND_ATTEMPTS: '1' });

afterEach(() => {
  t.smtp.messages.length = 0;
  t.smtp.hold = undefined;
  t.smtp.respond = undefined;
});

const MARK = 'EMBARGOED — NOT FOR PUBLICATION UNTIL';
const inMs = (ms: number) => new Date(Math.ceil((Date.now() + ms) / 1000) * 1000);
const people = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => ({ email: `${prefix}${i}@example.org` }));
/** The change notices holders of an advance copy are sent (tests/integration/change-notices.test.ts covers them whole). */
const NOTICE = /^(EMBARGO CHANGED|EMBARGO LIFTED|WITHDRAWN — DO NOT PUBLISH|CORRECTED — STILL EMBARGOED UNTIL [^:]*):/;
const mailTo = (prefix: string) => t.smtp.messages.filter((m) => m.to[0]!.startsWith(prefix));
/** Who received what: address → the copies (advance or lift) and when each started; notices apart. */
const received = (prefix: string) =>
  mailTo(prefix)
    .filter((m) => !NOTICE.test(m.mail.subject!))
    .map((m) => ({
      to: m.to[0]!,
      advance: m.mail.subject!.startsWith(MARK),
      at: m.startedAt,
      listId: /^List-ID: (.*)$/im.exec(m.raw)?.[1] ?? '',
    }));
/** Address → the kind of each change notice, in the order they arrived. */
const notices = (prefix: string) =>
  mailTo(prefix).flatMap((m) => {
    const kind = NOTICE.exec(m.mail.subject!)?.[1];
    return kind ? [[m.to[0]!, kind.replace(/ UNTIL .*/, '')]] : [];
  });
/** The copies' rows (advance and lift); notice rows are the change's, asserted through noticeRows. */
const rows = (releaseId: number) =>
  t.h.ctx.db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .select(['s.email', 'd.phase', 'd.state', 'd.release_version', 'd.list_id'])
    .where('d.release_id', '=', releaseId)
    .where('d.phase', 'in', ['advance', 'lift'])
    .orderBy('s.email')
    .execute();
const noticeRows = (releaseId: number) =>
  t.h.ctx.db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .select(['s.email', 'd.state'])
    .where('d.release_id', '=', releaseId)
    .where('d.phase', '=', 'notice')
    .where('d.state', '<>', 'cancelled')
    .orderBy('s.email')
    .orderBy('d.id')
    .execute();
const checks = watchBatchChecks();
/** A change has reached the release's running batch once a check of the release begun after it has answered. */
const batchCheckPasses = (releaseId: number) => checks.answered('refreshRelease', releaseId);

async function advanceRelease(prefix: string, vettedCount: number, embargoInMs: number, leadSeconds: number) {
  const vetted = await listWith(t.h, `Vetted ${prefix}`, people(prefix, vettedCount));
  const general = await listWith(t.h, `General ${prefix}`, [{ email: `${prefix}-general@example.org` }]);
  const embargoAt = inMs(embargoInMs);
  const release = await createRelease(t.h, [general], embargoAt, { advance: { listIds: [vetted], leadSeconds } });
  return {
    id: release.id as number,
    vetted,
    general,
    embargoAt,
    advanceAt: new Date(embargoAt.getTime() - leadSeconds * 1000),
  };
}

describe('the advance stage follows every change', () => {
  it('an embargo moved later during the advance send: the copies not yet sent wait for the new advance time', async () => {
    const gate = gateFor(t.smtp, 'move0@example.org');
    const { id } = await advanceRelease('move', 5, 4000, 2);
    expect((await t.h.api('POST', `/api/releases/${id}/schedule`)).status).toBe(200);
    await gate.reached;
    const embargoAt = inMs(6000);
    const advanceAt = new Date(embargoAt.getTime() - 2000);
    expect((await t.h.api('PATCH', `/api/releases/${id}`, { embargo: { at: embargoAt.toISOString() } })).status).toBe(
      200,
    );
    await batchCheckPasses(id);
    gate.open();

    await releaseReaches(t.h, id, 'sent');
    const copies = received('move');
    expect(copies.map((c) => [c.to, c.advance]).sort()).toEqual([
      ['move-general@example.org', false],
      ...people('move', 5).map((p) => [p.email, true]),
    ]);
    // move0's copy was at the relay when the embargo moved: one notice, sent after it. move1's was
    // claimed behind it but never handed over, so its notice ends skipped: nothing was sent to tell of.
    expect(notices('move')).toEqual([['move0@example.org', 'EMBARGO CHANGED']]);
    expect(await noticeRows(id)).toEqual([
      { email: 'move0@example.org', state: 'sent' },
      { email: 'move1@example.org', state: 'skipped' },
    ]);
    for (const copy of copies.filter((c) => c.to !== 'move0@example.org')) {
      expect(copy.at, copy.to).toBeGreaterThanOrEqual((copy.advance ? advanceAt : embargoAt).getTime());
    }
    expect((await rows(id)).map((r) => [r.email, r.state, r.release_version])).toEqual([
      ['move-general@example.org', 'sent', 2],
      ['move0@example.org', 'sent', 1],
      ...people('move', 5)
        .slice(1)
        .map((p) => [p.email, 'sent', 2]),
    ]);
  });

  it('advance lists removed during the advance send: nobody else gets an advance copy', async () => {
    const gate = gateFor(t.smtp, 'removed0@example.org');
    const { id } = await advanceRelease('removed', 4, 4000, 2);
    expect((await t.h.api('POST', `/api/releases/${id}/schedule`)).status).toBe(200);
    await gate.reached;
    expect((await t.h.api('PATCH', `/api/releases/${id}`, { advance: null })).status).toBe(200);
    await batchCheckPasses(id);
    gate.open();

    await releaseReaches(t.h, id, 'sent');
    expect(
      received('removed')
        .map((c) => [c.to, c.advance])
        .sort(),
    ).toEqual([
      ['removed-general@example.org', false],
      ['removed0@example.org', true],
    ]);
    expect((await rows(id)).map((r) => [r.email, r.phase, r.state])).toEqual([
      ['removed-general@example.org', 'lift', 'sent'],
      ['removed0@example.org', 'advance', 'sent'],
    ]);
  });

  it('unschedule during the advance send, then lift now: the rest get the lift copy and the release ends sent', async () => {
    const gate = gateFor(t.smtp, 'pulled0@example.org');
    const { id } = await advanceRelease('pulled', 5, 4000, 2);
    expect((await t.h.api('POST', `/api/releases/${id}/schedule`)).status).toBe(200);
    await gate.reached;
    expect((await t.h.api('POST', `/api/releases/${id}/unschedule`)).json.status).toBe('draft');
    await batchCheckPasses(id);
    gate.open();
    await waitUntil(async () => (await rows(id)).every((r) => r.state === 'sent'), 10_000, 'the held batch to let go');
    expect((await t.h.api('POST', `/api/releases/${id}/lift`, { reason: 'published elsewhere' })).status).toBe(200);

    const release = await releaseReaches(t.h, id, 'sent');
    // pulled0 held the advance copy: told it was withdrawn (unless the lift came before that notice
    // left, which then replaces it), and in the end that the embargo is lifted. Nobody else is told.
    const told = notices('pulled');
    expect(told.at(-1)).toEqual(['pulled0@example.org', 'EMBARGO LIFTED']);
    expect(told.every(([to]) => to === 'pulled0@example.org')).toBe(true);
    // pulled1's copy, claimed behind the gate, was never handed over: its notices end skipped.
    const tellRows = await noticeRows(id);
    expect(tellRows.filter((r) => r.email === 'pulled0@example.org').map((r) => r.state)).toEqual(
      told.map(() => 'sent'),
    );
    for (const row of tellRows.filter((r) => r.email !== 'pulled0@example.org'))
      expect(row).toEqual({ email: 'pulled1@example.org', state: 'skipped' });
    expect(release.counts).toMatchObject({ sent: 6 + told.length, queued: 0, sending: 0 });
    expect(
      received('pulled')
        .map((c) => [c.to, c.advance])
        .sort(),
    ).toEqual([
      ['pulled-general@example.org', false],
      ['pulled0@example.org', true],
      ...people('pulled', 5)
        .slice(1)
        .map((p) => [p.email, false]),
    ]);
    expect((await rows(id)).map((r) => [r.email, r.phase, r.state])).toEqual([
      ['pulled-general@example.org', 'lift', 'sent'],
      ['pulled0@example.org', 'advance', 'sent'],
      ...people('pulled', 5)
        .slice(1)
        .map((p) => [p.email, 'lift', 'sent']),
    ]);
  });

  it('an advance copy that failed or was skipped does not stand in the way of the lift copy', async () => {
    const gate = gateFor(t.smtp, 'held0@example.org');
    // held1 is refused (and the one attempt is spent); held2 leaves the vetted list before its copy
    // goes out. Both are on the general list too, so both get the lift copy.
    t.smtp.respond = (to, attempt) =>
      to === 'held1@example.org' && attempt === 1 ? { code: 451, message: '4.3.0 try later' } : undefined;
    const { id, vetted, general } = await advanceRelease('held', 3, 5000, 3);
    for (const email of ['held1@example.org', 'held2@example.org'])
      expect((await t.h.api('POST', `/api/lists/${general}/subscribers`, { email })).status).toBe(201);
    expect((await t.h.api('POST', `/api/releases/${id}/schedule`)).status).toBe(200);
    await gate.reached;
    const leaving = await t.h.ctx.db
      .selectFrom('subscribers')
      .select('id')
      .where('email', '=', 'held2@example.org')
      .executeTakeFirstOrThrow();
    await unsubscribe(t.h.ctx.db, leaving.id, vetted);
    gate.open();

    await releaseReaches(t.h, id, 'sent');
    expect(
      received('held')
        .map((c) => [c.to, c.advance])
        .sort(),
    ).toEqual([
      ['held-general@example.org', false],
      ['held0@example.org', true],
      ['held1@example.org', false],
      ['held2@example.org', false],
    ]);
    expect((await rows(id)).map((r) => [r.email, r.phase, r.state])).toEqual([
      ['held-general@example.org', 'lift', 'sent'],
      ['held0@example.org', 'advance', 'sent'],
      ['held1@example.org', 'lift', 'sent'],
      ['held2@example.org', 'lift', 'sent'],
    ]);
  });

  it("someone who left one of the release's lists but is still on another gets the copy, through that list", async () => {
    const first = await listWith(t.h, 'First desk', people('both', 3));
    const second = await listWith(t.h, 'Second desk', [{ email: 'both2@example.org' }]);
    const gate = gateFor(t.smtp, 'both0@example.org');
    const release = await createRelease(t.h, [first, second], inMs(1500));
    expect((await t.h.api('POST', `/api/releases/${release.id}/schedule`)).status).toBe(200);
    await gate.reached;
    const leaving = await t.h.ctx.db
      .selectFrom('subscribers')
      .select('id')
      .where('email', '=', 'both2@example.org')
      .executeTakeFirstOrThrow();
    await unsubscribe(t.h.ctx.db, leaving.id, first);
    gate.open();

    await releaseReaches(t.h, release.id, 'sent');
    const copies = received('both');
    expect(copies.map((c) => c.to).sort()).toEqual(people('both', 3).map((p) => p.email));
    expect(copies.find((c) => c.to === 'both2@example.org')!.listId).toContain('second-desk.');
    expect((await rows(release.id)).find((r) => r.email === 'both2@example.org')).toMatchObject({
      state: 'sent',
      list_id: second,
    });
  });

  it('a late joiner gets the lift copy, not an advance copy, even when the advance job is restored after its record expired', async () => {
    const { id, vetted, embargoAt } = await advanceRelease('late', 1, 5000, 3);
    expect((await t.h.api('POST', `/api/releases/${id}/schedule`)).status).toBe(200);
    await waitUntil(async () => received('late0@').length === 1, 15_000, 'the advance copy');
    expect(
      (await t.h.api('POST', `/api/lists/${vetted}/subscribers`, { email: 'late-joiner@example.org' })).status,
    ).toBe(201);
    // BullMQ drops a completed job's record after seven days; a worker restart then restores the job.
    const jobId = liftJobId(id, 1, 'advance');
    expect(await t.h.ctx.queues.lift.getJobState(jobId)).toBe('completed');
    await t.h.ctx.queues.lift.remove(jobId);
    await reconcile(t.h.ctx);
    await waitUntil(
      async () => (await t.h.ctx.queues.lift.getJobState(jobId)) === 'completed',
      15_000,
      'the restored advance job to run',
    );

    await releaseReaches(t.h, id, 'sent');
    const joiner = received('late-joiner');
    expect(joiner.map((c) => c.advance)).toEqual([false]);
    expect(joiner[0]!.at).toBeGreaterThanOrEqual(embargoAt.getTime());
  });
});
