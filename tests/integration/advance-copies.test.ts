import { describe, expect, it } from 'vitest';
import { liftJobId } from '../../src/releases/jobs.js';
import { reconcile } from '../../src/pipeline/reconcile.js';
import { createRelease, listWith, releaseStatus } from '../support/fixtures.js';
import { waitUntil } from '../support/harness.js';
import { useSmtpHarness } from '../support/smtp-harness.js';

const t = useSmtpHarness();

const MARK = 'EMBARGOED — NOT FOR PUBLICATION UNTIL';

describe('advance copies under embargo', () => {
  it('reach vetted journalists at the advance time, marked, and everyone else at the lift, unmarked, once each', async () => {
    t.smtp.messages.length = 0;
    const vetted = await listWith(t.h, 'Vetted science writers', [
      { email: 'ada@example.org', name: 'Ada Lovelace' },
      { email: 'zoe@example.org', name: 'Zoë Müller' },
    ]);
    const general = await listWith(t.h, 'Science desk', [
      { email: 'grace@example.org', name: 'Grace Hopper' },
      { email: 'zoe@example.org', name: 'Zoë Müller' },
    ]);
    const embargoAt = new Date(Math.ceil((Date.now() + 6000) / 1000) * 1000);
    const created = await createRelease(t.h, [general], embargoAt, { advance: { listIds: [vetted], leadSeconds: 3 } });
    const advanceAt = new Date(embargoAt.getTime() - 3000);
    expect(created.advance).toEqual({ listIds: [vetted], leadSeconds: 3, at: advanceAt.toISOString(), sentAt: null });
    expect(created.listIds).toEqual([general]);
    const file = await t.h.api(
      'POST',
      `/api/releases/${created.id}/attachments?filename=study.pdf`,
      '%PDF-1.4 advance',
      { 'content-type': 'application/pdf' },
    );
    expect(file.status).toBe(201);
    expect((await t.h.api('POST', `/api/releases/${created.id}/schedule`)).status).toBe(200);
    expect((await t.h.api('GET', `/api/releases/${created.id}/preview?phase=advance&format=text`)).body).toContain(
      MARK,
    );

    // Advance copies are out and noted on the release, which is still embargoed.
    const noted = await waitUntil(
      async () => {
        const r = await releaseStatus(t.h, created.id);
        return r.advance.sentAt && r;
      },
      30_000,
      'advance copies sent',
    );
    expect(new Date(noted.advance.sentAt).getTime()).toBeGreaterThanOrEqual(advanceAt.getTime());
    // Advance copies are no lift: the public newsroom still knows nothing of the release, but the
    // file link in an advance copy works for its reader.
    const publicGet = (url: string) => t.h.app.inject({ method: 'GET', url });
    expect(noted.slug).toBeNull();
    const advanceHtml = t.smtp.messages.find((m) => m.to[0] === 'ada@example.org')!.mail.html as string;
    // The keyed link names the file by id only: no slug, no file name, nothing of the release's words.
    const keyed = new URL(
      /href="(https:\/\/news\.example\.org\/files\/\d+\?key=[^"]+)"/.exec(advanceHtml)![1]!.replace(/&amp;/g, '&'),
    );
    const early = await publicGet(keyed.pathname + keyed.search);
    expect([early.statusCode, early.body, early.headers['cache-control']]).toEqual([
      200,
      '%PDF-1.4 advance',
      'private, no-store',
    ]);
    expect((await publicGet(keyed.pathname)).statusCode).toBe(404);
    expect((await publicGet(`${keyed.pathname}?key=guess`)).statusCode).toBe(404);
    // Someone who joins the vetted list after the advance send gets the ordinary copy at the lift.
    await t.h.api('POST', `/api/lists/${vetted}/subscribers`, { email: 'late@example.org', name: 'Late Joiner' });

    await waitUntil(async () => (await releaseStatus(t.h, created.id)).status === 'sent', 30_000, 'release sent');
    const received = t.smtp.messages
      .map((m) => ({
        to: m.to[0],
        advance: m.mail.subject!.startsWith(MARK),
        at: m.startedAt,
        subject: m.mail.subject!,
        html: m.mail.html || '',
        text: m.mail.text!,
      }))
      .sort((a, b) => a.to!.localeCompare(b.to!));
    // Who received which version: Zoë, on both kinds of list, only the advance copy (invariant 7).
    expect(received.map((r) => [r.to, r.advance ? 'advance' : 'lift'])).toEqual([
      ['ada@example.org', 'advance'],
      ['grace@example.org', 'lift'],
      ['late@example.org', 'lift'],
      ['zoe@example.org', 'advance'],
    ]);
    // And when: no copy before its send instant.
    for (const r of received) expect(r.at).toBeGreaterThanOrEqual((r.advance ? advanceAt : embargoAt).getTime());

    const advance = received.find((r) => r.to === 'zoe@example.org')!;
    expect(advance.subject).toMatch(
      /^EMBARGOED — NOT FOR PUBLICATION UNTIL .+ \(\d\d:\d\d UTC\): Quantum sensor maps brain activity$/,
    );
    expect(advance.html).toContain(MARK);
    expect(advance.text).toContain('Do not publish, broadcast or post it');
    const lift = received.find((r) => r.to === 'grace@example.org')!;
    expect(lift.subject).toBe('Quantum sensor maps brain activity');
    expect(lift.html).not.toMatch(/embargo/i);
    expect(lift.html).toContain(`href="https://news.example.org/files/${file.json.id}/study.pdf"`);

    const deliveries = (await t.h.api('GET', `/api/releases/${created.id}/deliveries`)).json.items;
    expect(
      deliveries
        .map((d: { email: string; phase: string; list: string; state: string }) => [d.email, d.phase, d.list, d.state])
        .sort(),
    ).toEqual([
      ['ada@example.org', 'advance', 'Vetted science writers', 'sent'],
      ['grace@example.org', 'lift', 'Science desk', 'sent'],
      ['late@example.org', 'lift', 'Vetted science writers', 'sent'],
      ['zoe@example.org', 'advance', 'Vetted science writers', 'sent'],
    ]);
  });

  it('moves with the embargo: a later embargo sends nothing at the old advance time, and both sends at the new times', async () => {
    t.smtp.messages.length = 0;
    const vetted = await listWith(t.h, 'Vetted movers', [{ email: 'mover-a@example.org' }]);
    const general = await listWith(t.h, 'General movers', [{ email: 'mover-b@example.org' }]);
    const firstEmbargo = new Date(Math.ceil((Date.now() + 5000) / 1000) * 1000);
    const created = await createRelease(t.h, [general], firstEmbargo, {
      advance: { listIds: [vetted], leadSeconds: 2 },
    });
    expect((await t.h.api('POST', `/api/releases/${created.id}/schedule`)).status).toBe(200);
    const embargoAt = new Date(firstEmbargo.getTime() + 4000);
    const moved = await t.h.api('PATCH', `/api/releases/${created.id}`, { embargo: { at: embargoAt.toISOString() } });
    expect(moved.status).toBe(200);
    const advanceAt = new Date(embargoAt.getTime() - 2000);
    expect(moved.json.advance.at).toBe(advanceAt.toISOString());

    await waitUntil(async () => (await releaseStatus(t.h, created.id)).status === 'sent', 30_000, 'release sent');
    const got = t.smtp.messages.map((m) => ({
      to: m.to[0],
      at: m.startedAt,
      advance: m.mail.subject!.startsWith(MARK),
    }));
    expect(got.map((m) => [m.to, m.advance]).sort()).toEqual([
      ['mover-a@example.org', true],
      ['mover-b@example.org', false],
    ]);
    for (const m of got) expect(m.at).toBeGreaterThanOrEqual((m.advance ? advanceAt : embargoAt).getTime());
  });

  it('gives everyone the ordinary copy when staff lift the release before its advance time', async () => {
    t.smtp.messages.length = 0;
    const vetted = await listWith(t.h, 'Vetted early lift', [{ email: 'early-a@example.org' }]);
    const general = await listWith(t.h, 'General early lift', [{ email: 'early-b@example.org' }]);
    const release = await createRelease(t.h, [general], new Date(Date.now() + 3_600_000), {
      advance: { listIds: [vetted], leadSeconds: 600 },
    });
    expect((await t.h.api('POST', `/api/releases/${release.id}/schedule`)).status).toBe(200);
    const lifted = await t.h.api('POST', `/api/releases/${release.id}/lift`, { reason: 'the journal published early' });
    expect([lifted.status, lifted.json.advance.at]).toEqual([200, null]);
    await waitUntil(async () => (await releaseStatus(t.h, release.id)).status === 'sent', 30_000, 'release sent');
    expect(t.smtp.messages.map((m) => [m.to[0], m.mail.subject]).sort()).toEqual([
      ['early-a@example.org', 'Quantum sensor maps brain activity'],
      ['early-b@example.org', 'Quantum sensor maps brain activity'],
    ]);
  });

  it('edits its contact and advance lists, and refuses a list that would be both kinds', async () => {
    const vetted = await listWith(t.h, 'Vetted edits', [{ email: 'e1@example.org' }]);
    const general = await listWith(t.h, 'General edits', [{ email: 'e2@example.org' }]);
    const release = await createRelease(t.h, [general], new Date(Date.now() + 3_600_000));
    expect(release.advance).toBeNull();
    const edited = await t.h.api('PATCH', `/api/releases/${release.id}`, {
      contact: { name: 'Lena Fischer', email: 'lena@example.org' },
      advance: { listIds: [vetted], leadSeconds: 600 },
    });
    expect(edited.status).toBe(200);
    expect(edited.json.contact).toEqual({ name: 'Lena Fischer', email: 'lena@example.org', phone: null });
    expect(edited.json.advance).toMatchObject({ listIds: [vetted], leadSeconds: 600, sentAt: null });
    expect(edited.json.listIds).toEqual([general]);
    const both = await t.h.api('PATCH', `/api/releases/${release.id}`, { listIds: [general, vetted] });
    expect([both.status, both.json.message]).toEqual([400, expect.stringContaining('advance.listIds')]);
    const removed = await t.h.api('PATCH', `/api/releases/${release.id}`, { advance: null });
    expect([removed.status, removed.json.advance]).toEqual([200, null]);
  });

  it('has its advance job restored from PostgreSQL when Redis loses it', async () => {
    const vetted = await listWith(t.h, 'Vetted for reconcile', [{ email: 'r@example.org' }]);
    const general = await listWith(t.h, 'General for reconcile', [{ email: 's@example.org' }]);
    const release = await createRelease(t.h, [general], new Date(Date.now() + 3_600_000), {
      advance: { listIds: [vetted], leadSeconds: 600 },
    });
    expect((await t.h.api('POST', `/api/releases/${release.id}/schedule`)).status).toBe(200);
    const jobIds = [liftJobId(release.id, 1), liftJobId(release.id, 1, 'advance')];
    const delays = async () =>
      Promise.all(jobIds.map(async (jobId) => (await t.h.ctx.queues.lift.getJob(jobId))?.opts.delay));
    const planned = await delays();
    expect(planned.every((delay) => typeof delay === 'number')).toBe(true);
    expect(planned[0]! - planned[1]!).toBeGreaterThan(590_000); // the advance job fires ten minutes earlier

    for (const jobId of jobIds) await t.h.ctx.queues.lift.remove(jobId);
    expect(await delays()).toEqual([undefined, undefined]);
    await reconcile(t.h.ctx);
    expect((await delays()).every((delay) => typeof delay === 'number')).toBe(true);
  });

  it('refuses an advance list that is also a lift list, and an advance time already past', async () => {
    const list = await listWith(t.h, 'Overlap', [{ email: 'x@example.org' }]);
    const other = await listWith(t.h, 'Other', [{ email: 'y@example.org' }]);
    const at = new Date(Date.now() + 60_000).toISOString();
    const base = { title: 'T', body: 'B', embargo: { at }, listIds: [list] };
    const same = await t.h.api('POST', '/api/releases', { ...base, advance: { listIds: [list], leadSeconds: 10 } });
    expect([same.status, same.json.message]).toEqual([400, expect.stringContaining('advance.listIds')]);
    const late = await t.h.api('POST', '/api/releases', { ...base, advance: { listIds: [other], leadSeconds: 3600 } });
    expect([late.status, late.json.message]).toEqual([400, expect.stringContaining('advance.leadSeconds')]);
    const bad = await t.h.api('POST', '/api/releases', { ...base, advance: { listIds: [other], leadSeconds: 1.5 } });
    expect([bad.status, bad.json.message]).toEqual([400, expect.stringContaining('advance.leadSeconds')]);
  });
});
