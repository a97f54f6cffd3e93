import { beforeAll, describe, expect, it } from 'vitest';
import { WORKER_NAME } from '../../src/queue/index.js';
import { waitUntil, type Harness } from '../support/harness.js';
import type { TestSmtp } from '../support/smtp.js';
import { useSmtpHarness } from '../support/smtp-harness.js';
import { listWith, releaseReaches, releaseStatus, scheduleIn } from '../support/fixtures.js';

const METRICS_TOKEN = 'metrics-token-for-tests-0123456789';
let h: Harness;
let smtp: TestSmtp;
let operatorToken: string;
let editorToken: string;

const setup = useSmtpHarness({ SEND_BATCH_SIZE: '2', METRICS_TOKEN });
beforeAll(async () => {
  ({ h, smtp } = setup);
  operatorToken = await h.tokenFor('operator', 'night-operator');
  editorToken = await h.tokenFor('editor', 'desk-editor');
});

const as = (token: string | undefined) => (token ? { authorization: `Bearer ${token}` } : { authorization: '' });
const get = (url: string, token?: string) => h.app.inject({ method: 'GET', url, headers: as(token) });
const sent = (id: number) => releaseReaches(h, id, 'sent');

describe('the queue dashboard', () => {
  const title = 'Zanzibar flamingo census embargoed';
  const body = 'Confidential: **Quixotic-Vermilion-4417** findings.';

  it('lets operators look, admins act, and nobody else in', async () => {
    expect((await get('/admin/queues')).statusCode).toBe(401);
    expect((await get('/admin/queues/view/api/queues')).statusCode).toBe(401);
    expect((await get('/admin/queues', editorToken)).statusCode).toBe(403);
    expect((await get('/admin/queues/manage/api/queues', operatorToken)).statusCode).toBe(403);
    expect((await get('/admin/queues/manage/api/queues', operatorToken)).json()).toMatchObject({ error: 'forbidden' });

    const operator = await get('/admin/queues', operatorToken);
    expect(operator.statusCode).toBe(302);
    expect(operator.headers.location).toBe('/admin/queues/view/');
    expect((await get('/admin/queues', h.token)).headers.location).toBe('/admin/queues/manage/');
    const page = await get('/admin/queues/view/', operatorToken);
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toContain('text/html');

    const readOnly = (await get('/admin/queues/view/api/queues', operatorToken)).json();
    expect(
      readOnly.queues.map((q: { name: string; readOnlyMode: boolean }) => [q.name, q.readOnlyMode]).sort(),
    ).toEqual([
      ['lift', true],
      ['send', true],
    ]);
    const refused = await h.app.inject({
      method: 'PUT',
      url: '/admin/queues/view/api/queues/lift/pause',
      headers: as(operatorToken),
    });
    expect(refused.statusCode).toBeGreaterThanOrEqual(400);
    expect(await h.ctx.queues.lift.isPaused()).toBe(false);
    const managed = (await get('/admin/queues/manage/api/queues', h.token)).json();
    expect(managed.queues.every((q: { readOnlyMode: boolean }) => !q.readOnlyMode)).toBe(true);
  });

  it('never shows a release text, before or after the lift', async () => {
    const list = await listWith(h, 'Board', [
      { email: 'b1@example.org' },
      { email: 'b2@example.org' },
      { email: 'b3@example.org' },
    ]);
    const { id } = await scheduleIn(h, [list], 3000, { title, body });
    const release = await releaseStatus(h, id);

    const leaks = async () => {
      const urls = ['/admin/queues/view/', '/admin/queues/manage/api/redis/stats'];
      for (const queue of ['lift', 'send']) {
        for (const status of ['latest', 'delayed', 'waiting', 'active', 'completed', 'failed']) {
          urls.push(`/admin/queues/manage/api/queues?activeQueue=${queue}&status=${status}&page=1&jobsPerPage=50`);
        }
      }
      urls.push(`/admin/queues/manage/api/queues/lift/lift-${id}-v${release.version}`);
      const bodies = await Promise.all(urls.map(async (url) => ({ url, response: await get(url, h.token) })));
      for (const { url, response } of bodies) expect(response.statusCode, url).toBe(200);
      return bodies
        .filter(({ response }) => /Zanzibar|flamingo|Quixotic|Vermilion/i.test(response.body))
        .map((b) => b.url);
    };
    expect(await leaks()).toEqual([]);
    const delayed = (
      await get('/admin/queues/view/api/queues?activeQueue=lift&status=delayed&page=1&jobsPerPage=50', operatorToken)
    ).json();
    const liftJobs = delayed.queues.find((q: { name: string }) => q.name === 'lift').jobs;
    expect(liftJobs.map((j: { data: unknown }) => j.data)).toContainEqual({ releaseId: id, version: release.version });

    // After the lift the send jobs exist, and carry ids only too.
    await sent(id);
    const completed = (
      await get('/admin/queues/manage/api/queues?activeQueue=send&status=completed&page=1&jobsPerPage=50', h.token)
    ).json();
    const sendJobs = completed.queues.find((q: { name: string }) => q.name === 'send').jobs;
    expect(sendJobs.some((j: { data: { releaseId: number } }) => j.data.releaseId === id)).toBe(true);
    expect(await leaks()).toEqual([]);
  });
});

describe('GET /metrics', () => {
  it('refuses anonymous and editor scrapes, and accepts the metrics token or an operator', async () => {
    expect((await get('/metrics')).statusCode).toBe(401);
    expect((await get('/metrics', 'wrong-token-wrong-token-wrong')).statusCode).toBe(401);
    expect((await get('/metrics', editorToken)).statusCode).toBe(403);
    expect((await get('/metrics', operatorToken)).statusCode).toBe(200);
    expect((await get('/metrics', METRICS_TOKEN)).statusCode).toBe(200);
  });

  it('reports deliveries, releases, queue depths, SMTP timing and lift lags', async () => {
    const list = await listWith(h, 'Metrics', [
      { email: 'm1@example.org' },
      { email: 'm2@example.org' },
      { email: 'm3@example.org' },
    ]);
    const before = await scrape(0); // a labelled histogram has no sample until its first observation
    const { id } = await scheduleIn(h, [list], 2000);
    await sent(id);
    const after = await scrape();

    expect(after('presslift_deliveries{state="sent"}') - before('presslift_deliveries{state="sent"}')).toBe(3);
    expect(after('presslift_releases{status="sent"}') - before('presslift_releases{status="sent"}')).toBe(1);
    expect(
      after('presslift_smtp_send_duration_seconds_count{outcome="sent"}') -
        before('presslift_smtp_send_duration_seconds_count{outcome="sent"}'),
    ).toBe(3);
    expect(
      after('presslift_lift_first_send_lag_seconds_count') - before('presslift_lift_first_send_lag_seconds_count'),
    ).toBe(1);
    expect(
      after('presslift_lift_last_send_lag_seconds_count') - before('presslift_lift_last_send_lag_seconds_count'),
    ).toBe(1);
    expect(after('presslift_lift_last_send_lag_seconds_sum')).toBeGreaterThan(0);
    for (const queue of ['lift', 'send']) {
      for (const state of ['waiting', 'delayed', 'active', 'failed'])
        expect(after(`presslift_queue_jobs{queue="${queue}",state="${state}"}`)).toBeGreaterThanOrEqual(0);
    }
    expect(after('presslift_sending_paused')).toBe(0);
    expect(after('presslift_process_cpu_user_seconds_total')).toBeGreaterThan(0);
  });

  /** Returns a lookup of one scrape's samples; a missing sample is NaN unless told, which fails any comparison. */
  async function scrape(missing = Number.NaN): Promise<(sample: string) => number> {
    const response = await get('/metrics', METRICS_TOKEN);
    expect(response.statusCode).toBe(200);
    expect(response.headers['content-type']).toContain('text/plain');
    const samples = new Map<string, number>();
    for (const line of response.body.split('\n')) {
      if (!line || line.startsWith('#')) continue;
      const cut = line.lastIndexOf(' ');
      samples.set(line.slice(0, cut), Number(line.slice(cut + 1)));
    }
    return (sample) => samples.get(sample) ?? missing;
  }
});

describe('the emergency stop', () => {
  it('holds a lift whose instant passes while paused, sends it late on resume, and says so', async () => {
    smtp.messages.length = 0;
    const pause = await h.app.inject({ method: 'POST', url: '/api/ops/pause', headers: as(h.token) });
    expect(pause.statusCode).toBe(200);
    expect(pause.json().sending).toMatchObject({ paused: true, by: 'token:test-admin' });
    expect((await h.app.inject({ method: 'POST', url: '/api/ops/resume', headers: as(editorToken) })).statusCode).toBe(
      403,
    );

    const list = await listWith(h, 'Paused', [
      { email: 'p1@example.org' },
      { email: 'p2@example.org' },
      { email: 'p3@example.org' },
    ]);
    const { id, embargoAt } = await scheduleIn(h, [list], 2000);
    await waitUntil(async () => Date.now() > embargoAt.getTime() + 2500, 10_000, 'the embargo to pass');
    expect(smtp.messages).toHaveLength(0);
    expect((await releaseStatus(h, id)).status).toBe('scheduled');

    const status = (await get('/api/ops/status', operatorToken)).json();
    expect(status.sending.paused).toBe(true);
    expect(status.queues.lift.paused).toBe(true);
    expect(status.queues.send.paused).toBe(true);
    expect(status.queues.send.workers).toContain(WORKER_NAME);
    expect(status.releases).toContainEqual(expect.objectContaining({ id, status: 'scheduled', liftLagMs: null }));
    expect(JSON.stringify(status)).not.toContain('Quantum sensor');

    const resumedAt = Date.now();
    expect(
      (await h.app.inject({ method: 'POST', url: '/api/ops/resume', headers: as(h.token) })).json().sending.paused,
    ).toBe(false);
    const release = await sent(id);
    expect(smtp.messages.map((m) => m.to[0]).sort()).toEqual(['p1@example.org', 'p2@example.org', 'p3@example.org']);
    for (const message of smtp.messages) expect(message.startedAt).toBeGreaterThanOrEqual(resumedAt);
    expect(release.liftLagMs).toBeGreaterThanOrEqual(2500);

    const audit = await h.ctx.db
      .selectFrom('audit')
      .select(['actor', 'action'])
      .where('release_id', 'is', null)
      .orderBy('id')
      .execute();
    expect(audit).toEqual([
      { actor: 'token:test-admin', action: 'pause-sending' },
      { actor: 'token:test-admin', action: 'resume-sending' },
    ]);
  });
});

describe('retrying failed deliveries', () => {
  it('queues failed deliveries again and takes the release from sent back to sending to sent', async () => {
    smtp.messages.length = 0;
    let refuse = true;
    // 554 is permanent without suppressing the address (a 550 would, and the retry would skip it).
    smtp.respond = (recipient) =>
      refuse && recipient === 'bounce@example.org' ? { code: 554, message: 'policy rejection' } : undefined;
    const list = await listWith(h, 'Retry', [{ email: 'ok@example.org' }, { email: 'bounce@example.org' }]);
    const { id } = await scheduleIn(h, [list], 2000);
    expect((await sent(id)).counts).toMatchObject({ sent: 1, failed: 1 });

    refuse = false;
    const retried = await h.app.inject({
      method: 'POST',
      url: `/api/releases/${id}/retry`,
      headers: as(operatorToken),
    });
    expect(retried.statusCode).toBe(200);
    expect(retried.json()).toEqual({ releaseId: id, retried: 1, sendJobs: 1 });
    const after = await sent(id);
    expect(after.counts).toMatchObject({ sent: 2, failed: 0 });
    expect(smtp.messages.map((m) => m.to[0]).sort()).toEqual(['bounce@example.org', 'ok@example.org']);
    const actions = (await h.api('GET', `/api/releases/${id}/audit`)).json.items.map(
      (a: { action: string }) => a.action,
    );
    expect(actions).toContain('retry-failed');
    smtp.respond = undefined;
  });

  it('refuses a release that has not been sent, an unknown one, and a bad id', async () => {
    const list = await listWith(h, 'Draft only', [{ email: 'd@example.org' }]);
    const draft = await h.api('POST', '/api/releases', {
      title: 'Draft',
      body: 'text',
      listIds: [list],
      embargo: { at: new Date(Date.now() + 3_600_000).toISOString() },
    });
    const conflict = await h.api('POST', `/api/releases/${draft.json.id}/retry`);
    expect(conflict.status).toBe(409);
    expect(conflict.json).toMatchObject({ error: 'conflict', details: {} });
    expect((await h.api('POST', '/api/releases/999999/retry')).status).toBe(404);
    const bad = await h.api('POST', '/api/releases/abc/retry');
    expect(bad.status).toBe(400);
    expect(bad.json.message).toMatch(/^id:/);
  });
});
