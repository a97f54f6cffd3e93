import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createAccount } from '../../src/db/accounts.js';
import { createSession } from '../../src/db/sessions.js';
import { createApiToken } from '../../src/db/tokens.js';
import { applyMailEvent } from '../../src/pipeline/mail-events.js';
import { SESSION_COOKIE } from '../../src/api/auth.js';
import { listWith, releaseReaches, scheduleIn } from '../support/fixtures.js';
import { createHarness, type Harness } from '../support/harness.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

/** What staff see of bounces and complaints: the release report, the lists' 30-day rates, suppressions, metrics. */
let h: Harness;
let smtp: TestSmtp;
let cookie: string;
let releaseId: number;
let noisy: number;
let quiet: number;
const METRICS_TOKEN = 'metrics-token-for-tests-0123456789';

beforeAll(async () => {
  smtp = await startSmtp();
  h = await createHarness({ SMTP_URL: smtp.url, METRICS_TOKEN });
  await h.startWorkers();
  const { id: accountId } = await createAccount(h.ctx.db, 'boss@example.org', 'admin', 'not-used');
  cookie = `${SESSION_COOKIE}=${(await createSession(h.ctx.db, accountId, 1)).token}`;
  noisy = await listWith(
    h,
    'Noisy desk',
    Array.from({ length: 10 }, (_, i) => ({ email: `n${i}@example.org` })),
  );
  quiet = await listWith(h, 'Quiet desk', [{ email: 'q0@example.org' }, { email: 'n0@example.org' }]);
  ({ id: releaseId } = await scheduleIn(h, [noisy], 1000));
  await releaseReaches(h, releaseId, 'sent');
  const { rows } = await sql<{ id: number; email: string }>`
    SELECT d.id, s.email FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.release_id = ${releaseId} ORDER BY s.email`.execute(
    h.ctx.db,
  );
  const id = (email: string) => rows.find((r) => r.email === email)!.id;
  // One complaint in ten deliveries (10%, far past the 0.1% warning) and one hard bounce.
  await applyMailEvent(h.ctx, {
    source: 'arf',
    target: { deliveryId: id('n0@example.org') },
    eventId: null,
    feedback: { kind: 'complaint', feedbackType: 'abuse' },
  });
  await applyMailEvent(h.ctx, {
    source: 'dsn',
    target: { deliveryId: id('n1@example.org') },
    eventId: null,
    feedback: {
      kind: 'bounce',
      permanent: true,
      final: true,
      status: '5.1.1',
      diagnostic: 'smtp; 550 5.1.1 user unknown',
    },
  });
}, 60_000);
afterAll(async () => {
  await h?.close();
  await smtp?.close();
});

const page = async (url: string) => {
  const response = await h.app.inject({ method: 'GET', url, headers: { cookie } });
  expect(response.statusCode, url).toBe(200);
  return response.body;
};

describe('staff views of what came back', () => {
  it('the release counts bounced and complained, in the API and on its report page', async () => {
    const view = (await h.api('GET', `/api/releases/${releaseId}`)).json;
    // A complaint is about a message that arrived: its delivery stays sent.
    expect(view.counts).toMatchObject({ sent: 9, bounced: 1 });
    expect(view.feedback).toEqual({ softBounced: 0, complained: 1 });
    const report = await page(`/console/releases/${releaseId}`);
    expect(report).toContain('<dd data-count="bounced">1</dd>');
    expect(report).toContain('<strong data-feedback-count="complained">1</strong> complained');
    expect(report).toMatch(/n1@example\.org.*pill-bounced.*bounced: 5\.1\.1 smtp; 550 5\.1\.1 user unknown/s);
  });

  it('each list shows its 30-day bounce and complaint rates, with a warning past the complaint level', async () => {
    const lists = await page('/console/lists');
    const row = (id: number) => new RegExp(`<tr data-list-row="${id}">[\\s\\S]*?</tr>`).exec(lists)![0];
    expect(row(noisy)).toMatch(
      /10\.0% <span class="muted small">\(1\)<\/span>[\s\S]*data-complaint-warning>10\.0% <span class="muted small">\(1\)/,
    );
    expect(row(quiet)).not.toContain('data-complaint-warning');
    const alert = /data-complaint-alert>[\s\S]*?<\/div>/.exec(lists)![0];
    expect(alert).toContain('Noisy desk (10.0%)');
    expect(alert).not.toContain('Quiet desk');
    expect(await page(`/console/lists/${noisy}`)).toContain('10 deliveries · 10.0% bounced · 10.0% complained');

    const metrics = await h.app.inject({
      method: 'GET',
      url: '/metrics',
      headers: { authorization: `Bearer ${METRICS_TOKEN}` },
    });
    expect(metrics.body).toContain(`presslift_list_complaint_rate{list="${noisy}"} 0.1`);
    expect(metrics.body).toContain(`presslift_list_complaint_rate{list="${quiet}"} 0`);
    expect(metrics.body).toContain(`presslift_list_bounce_rate{list="${noisy}"} 0.1`);
    expect(metrics.body).toMatch(/^presslift_lists_complaint_rate_high 1$/m);
  });

  it('suppressions show reason and source; an admin may remove one, which re-subscribes nobody', async () => {
    const items = (await h.api('GET', '/api/suppressions')).json.items;
    expect(
      items.map((i: { email: string; source: string; reason: string }) => [i.email, i.source, i.reason]).sort(),
    ).toEqual([
      ['n0@example.org', 'arf', 'complaint (abuse)'],
      ['n1@example.org', 'dsn', 'bounced: 5.1.1 smtp; 550 5.1.1 user unknown'],
    ]);
    const listPage = await page('/console/suppressions');
    expect(listPage).toMatch(
      /data-suppression="n0@example\.org">.*complaint \(abuse\).*complaint \(ARF\).*data-action="\/api\/suppressions\/n0%40example\.org"/s,
    );

    const { token: editor } = await createApiToken(h.ctx.db, {
      name: 'an-editor',
      role: 'editor',
      ownerAccountId: null,
      createdBy: 'cli:test',
    });
    expect(
      (await h.api('DELETE', '/api/suppressions/n0@example.org', undefined, { authorization: `Bearer ${editor}` }))
        .status,
    ).toBe(403);
    expect((await h.api('DELETE', '/api/suppressions/nobody@example.org')).status).toBe(404);
    expect((await h.api('DELETE', '/api/suppressions/not-an-address')).status).toBe(400);
    expect((await h.api('DELETE', '/api/suppressions/N0@example.org')).status).toBe(204);

    expect((await h.api('GET', '/api/suppressions')).json.items.map((i: { email: string }) => i.email)).toEqual([
      'n1@example.org',
    ]);
    // The complaint ended both memberships; lifting the suppression leaves them ended.
    const { rows } = await sql<{ list_id: number; status: string }>`
      SELECT m.list_id, m.status FROM list_members m JOIN subscribers s ON s.id = m.subscriber_id WHERE s.email_key = 'n0@example.org' ORDER BY m.list_id`.execute(
      h.ctx.db,
    );
    expect(rows).toEqual([
      { list_id: noisy, status: 'unsubscribed' },
      { list_id: quiet, status: 'unsubscribed' },
    ]);
    const readded = await h.api('POST', `/api/lists/${quiet}/subscribers`, { email: 'n0@example.org' });
    expect(readded.status).toBeLessThan(300);
    expect(
      (
        await sql<{
          status: string;
        }>`SELECT m.status FROM list_members m JOIN subscribers s ON s.id = m.subscriber_id WHERE s.email_key = 'n0@example.org' AND m.list_id = ${quiet}`.execute(
          h.ctx.db,
        )
      ).rows[0]!.status,
    ).toBe('unsubscribed');
    const audit = await h.ctx.db
      .selectFrom('audit')
      .select(['action', 'details'])
      .where('action', '=', 'unsuppress')
      .execute();
    expect(audit).toEqual([{ action: 'unsuppress', details: { email: 'n0@example.org' } }]);
  });
});
