import { describe, expect, it, vi } from 'vitest';
import { consoleClient } from '../support/console-client.js';
import { createRelease, listWith, releaseReaches } from '../support/fixtures.js';
import { waitUntil } from '../support/harness.js';
import { useProcessHarness } from '../support/process-harness.js';

// Real worker processes and a real SMTP server: corrections after the lift, and per-recipient
// file keys with their access log (who opened what before the lift).
// Worker processes start slowly on a loaded machine; each test waits on conditions, never on time.
vi.setConfig({ testTimeout: 240_000, hookTimeout: 120_000 });
const t = useProcessHarness();
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const TITLE = 'Quantum sensor maps brain activity';
const subjects = (to: string) => t.smtp.messages.filter((m) => m.to[0] === to).map((m) => m.mail.subject!);
const publicGet = (url: string, headers: Record<string, string> = {}) =>
  t.h.app.inject({ method: 'GET', url, headers });

async function changeRows(releaseId: number) {
  return t.h.ctx.db
    .selectFrom('deliveries as d')
    .innerJoin('subscribers as s', 's.id', 'd.subscriber_id')
    .select(['s.email', 'd.phase', 'd.state', 'd.last_error'])
    .where('d.release_id', '=', releaseId)
    .where('d.change_id', 'is not', null)
    .orderBy('s.email')
    .execute();
}

describe('corrections after the lift', () => {
  it('reach everyone sent the release and still subscribed, once each, and the newsroom and feed show them', async () => {
    await t.worker();
    const vetted = await listWith(t.h, 'Fix vetted', [{ email: 'fix-a@example.org', name: 'Ada' }]);
    const desk = await listWith(t.h, 'Fix desk', [
      { email: 'fix-g@example.org' },
      { email: 'fix-h@example.org' },
      { email: 'fix-u@example.org' },
    ]);
    const late = await listWith(t.h, 'Fix latecomers', []);
    const embargoAt = new Date(Math.ceil((Date.now() + 4000) / 1000) * 1000);
    const created = await createRelease(t.h, [desk, late], embargoAt, {
      advance: { listIds: [vetted], leadSeconds: 2 },
    });
    expect((await t.h.api('POST', `/api/releases/${created.id}/schedule`)).status).toBe(200);
    const sent = await releaseReaches(t.h, created.id, 'sent');
    // u unsubscribes after the release; someone joins a list of the release after it was sent.
    const u = await t.h.ctx.db
      .selectFrom('subscribers')
      .select('id')
      .where('email', '=', 'fix-u@example.org')
      .executeTakeFirstOrThrow();
    expect((await t.h.api('DELETE', `/api/lists/${desk}/subscribers/${u.id}`)).status).toBe(200);
    await t.h.api('POST', `/api/lists/${late}/subscribers`, { email: 'fix-late@example.org' });
    const feedBefore = (await publicGet('/releases/feed.xml')).body;

    // Bad input is refused whole: the note is required, and only a sent release is corrected.
    const refused = await t.h.api('POST', `/api/releases/${created.id}/corrections`, { body: 'x' });
    expect([refused.status, refused.json.message]).toEqual([400, expect.stringContaining('note')]);
    const corrected = await t.h.api('POST', `/api/releases/${created.id}/corrections`, {
      body: 'The sensor works at **room temperature** in 40 volunteers.',
      note: 'the study had 40 volunteers, not 400',
    });
    expect(corrected.status).toBe(201);
    expect([corrected.json.recipients, corrected.json.release.status, corrected.json.release.version]).toEqual([
      4,
      'sent',
      sent.version + 1,
    ]);
    await waitUntil(
      async () => (await changeRows(created.id)).every((r) => !['queued', 'sending'].includes(r.state)),
      30_000,
      'corrections settled',
    );
    await sleep(600);

    for (const to of ['fix-a@example.org', 'fix-g@example.org', 'fix-h@example.org']) {
      expect(
        subjects(to).filter((s) => s === `CORRECTION: ${TITLE}`),
        to,
      ).toHaveLength(1);
    }
    expect(subjects('fix-u@example.org')).toEqual([TITLE]);
    expect(subjects('fix-late@example.org')).toEqual([]);
    const copy = t.smtp.messages.find(
      (m) => m.to[0] === 'fix-g@example.org' && m.mail.subject!.startsWith('CORRECTION'),
    )!;
    const text = copy.mail.text!;
    // The note at the top, before the corrected text.
    expect(text.indexOf('CORRECTION: the study had 40 volunteers, not 400')).toBeGreaterThan(-1);
    expect(text.indexOf('CORRECTION: the study had 40 volunteers')).toBeLessThan(text.indexOf('in 40 volunteers.'));
    expect((await changeRows(created.id)).map((r) => [r.email, r.phase, r.state, r.last_error])).toEqual([
      ['fix-a@example.org', 'correction', 'sent', null],
      ['fix-g@example.org', 'correction', 'sent', null],
      ['fix-h@example.org', 'correction', 'sent', null],
      ['fix-u@example.org', 'correction', 'skipped', 'unsubscribed before sending'],
    ]);
    const change = await t.h.ctx.db
      .selectFrom('release_changes')
      .selectAll()
      .where('release_id', '=', created.id)
      .executeTakeFirstOrThrow();
    expect([change.kind, change.note, change.version, change.html !== null]).toEqual([
      'correction',
      'the study had 40 volunteers, not 400',
      sent.version + 1,
      true,
    ]);

    // The newsroom page shows the corrected text and a dated "Corrected" line; the feed entry is updated.
    const page = await publicGet(`/releases/${sent.slug}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toMatch(
      /<strong>Corrected \d{1,2} \w+ \d{4}, \d\d:\d\d [^<]+:<\/strong> the study had 40 volunteers, not 400/,
    );
    expect(page.body).toContain('in 40 volunteers.');
    const feed = (await publicGet('/releases/feed.xml')).body;
    expect(feed).not.toEqual(feedBefore);
    const updated = /<entry>[\s\S]*?<updated>([^<]+)<\/updated>/.exec(feed)![1]!;
    expect(new Date(updated).getTime()).toBe(change.created_at.getTime());
    expect(new Date(updated).getTime()).toBeGreaterThan(new Date(sent.liftedAt ?? sent.lifted?.at ?? 0).getTime());
  });
});

describe('per-recipient file keys and who opened what before the lift', () => {
  it('each advance reader has their own key; uses are logged; a withdrawal revokes them to the same 404 as an unknown key', async () => {
    await t.worker();
    const vetted = await listWith(t.h, 'Key vetted', [
      { email: 'key-a@example.org', name: 'Ada', outlet: 'The Courier' },
      { email: 'key-b@example.org' },
    ]);
    const desk = await listWith(t.h, 'Key desk', [{ email: 'key-g@example.org' }]);
    const embargoAt = new Date(Math.ceil((Date.now() + 3_602_000) / 1000) * 1000);
    const created = await createRelease(t.h, [desk], embargoAt, { advance: { listIds: [vetted], leadSeconds: 3600 } });
    const file = await t.h.api('POST', `/api/releases/${created.id}/attachments?filename=study.pdf`, '%PDF-1.4 keyed', {
      'content-type': 'application/pdf',
    });
    expect(file.status).toBe(201);
    expect((await t.h.api('POST', `/api/releases/${created.id}/schedule`)).status).toBe(200);
    await waitUntil(async () => t.smtp.messages.length === 2 && true, 30_000, 'advance copies');

    const linkOf = (to: string) => {
      const html = t.smtp.messages.find((m) => m.to[0] === to)!.mail.html as string;
      const url = new URL(
        /href="(https:\/\/news\.example\.org\/files\/\d+\?key=[^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&'),
      );
      return url.pathname + url.search;
    };
    const [a, b] = [linkOf('key-a@example.org'), linkOf('key-b@example.org')];
    expect(a).not.toEqual(b);
    // A key names one copy by its delivery only: no address, no list, nothing of anyone else.
    for (const link of [a, b]) expect(link).not.toMatch(/key-|vetted|example/i);

    const opened = await publicGet(a, { 'user-agent': 'LeakHunter/1.0' });
    expect([opened.statusCode, opened.body]).toEqual([200, '%PDF-1.4 keyed']);
    expect((await publicGet(b, { 'user-agent': 'Other/2.0' })).statusCode).toBe(200);
    expect((await publicGet(a, { 'user-agent': 'LeakHunter/1.0' })).statusCode).toBe(200);
    // Forged or unknown keys, and the bare file, answer the 404 of a file that never existed.
    const missing = await publicGet('/files/999999?key=1.abc');
    const forged = a.replace(/key=(\d+)\./, (_m, id) => `key=${Number(id) + 1}.`);
    for (const url of [forged, `/files/${file.json.id}`, `/files/${file.json.id}?key=guess`]) {
      const answer = await publicGet(url);
      expect([answer.statusCode, answer.body], url).toEqual([404, missing.body]);
    }

    const log = (await t.h.api('GET', `/api/releases/${created.id}/file-access`)).json.items;
    expect(log.map((e: any) => [e.email, e.outlet, e.file, e.userAgent, e.beforeLift])).toEqual([
      ['key-a@example.org', 'The Courier', 'study.pdf', 'LeakHunter/1.0', true],
      ['key-b@example.org', null, 'study.pdf', 'Other/2.0', true],
      ['key-a@example.org', 'The Courier', 'study.pdf', 'LeakHunter/1.0', true],
    ]);
    const rows = await t.h.ctx.db
      .selectFrom('file_access')
      .selectAll()
      .where('release_id', '=', created.id)
      .orderBy('id')
      .execute();
    expect(rows.map((r) => [r.attachment_id, r.ip, r.before_lift, r.delivery_id !== null])).toEqual([
      [file.json.id, '127.0.0.1', true, true],
      [file.json.id, '127.0.0.1', true, true],
      [file.json.id, '127.0.0.1', true, true],
    ]);
    // The console report lists the uses, by person, as "before the lift".
    const admin = consoleClient(t.h, '192.0.2.30');
    expect((await admin.setUpFirstAdmin('keys-admin@example.org')).answer.statusCode).toBe(303);
    const report = await admin.request({ method: 'GET', url: `/console/releases/${created.id}` });
    expect(report.statusCode).toBe(200);
    expect(report.body).toContain('Who opened what before the lift');
    expect(report.body).toMatch(
      /key-a@example\.org<div class="muted small">Ada · The Courier<\/div>[\s\S]*?LeakHunter\/1\.0[\s\S]*?before the lift/,
    );

    // Withdrawn: every key is revoked and answers exactly as an unknown one; nothing more is logged.
    expect((await t.h.api('POST', `/api/releases/${created.id}/unschedule`)).status).toBe(200);
    for (const url of [a, b]) {
      const answer = await publicGet(url);
      expect([answer.statusCode, answer.body], url).toEqual([404, missing.body]);
    }
    expect((await t.h.api('GET', `/api/releases/${created.id}/file-access`)).json.items).toHaveLength(3);
    const revoked = await t.h.ctx.db
      .selectFrom('deliveries')
      .select(['phase', 'files_revoked_at'])
      .where('release_id', '=', created.id)
      .where('phase', '=', 'advance')
      .execute();
    expect(revoked).toHaveLength(2);
    for (const row of revoked) expect(row.files_revoked_at).not.toBeNull();
  });
});
