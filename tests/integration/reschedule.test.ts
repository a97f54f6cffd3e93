import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createRelease, listWith, releaseReaches, releaseStatus, scheduleIn } from '../support/fixtures.js';
import { createHarness, type Harness } from '../support/harness.js';
import { liftJobId } from '../../src/releases/jobs.js';
import { instantPassed, jobsFinished, queuesSettled } from '../support/queues.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

let h: Harness;
let smtp: TestSmtp;

beforeAll(async () => {
  smtp = await startSmtp();
  h = await createHarness({ SMTP_URL: smtp.url });
  await h.startWorkers();
});
afterEach(() => {
  smtp.messages.length = 0;
});
afterAll(async () => {
  await h?.close();
  await smtp?.close();
});

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const inMs = (ms: number) => new Date(Math.ceil((Date.now() + ms) / 1000) * 1000);
const people = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => ({ email: `${prefix}${i}@example.org` }));
const emails = (prefix: string, count: number) => people(prefix, count).map((p) => p.email);
const received = (prefix: string) => smtp.messages.filter((m) => m.to[0]!.startsWith(prefix));
const recipients = (prefix: string) =>
  received(prefix)
    .map((m) => m.to[0])
    .sort();
const moveEmbargo = (id: number, at: Date) =>
  h.api('PATCH', `/api/releases/${id}`, { embargo: { at: at.toISOString(), timeZone: 'Europe/London' } });

describe('rescheduling a scheduled release', () => {
  it('later: nothing at the old instant, everything once at the new one', async () => {
    const list = await listWith(h, 'Later', people('later', 3));
    const { id, embargoAt: old } = await scheduleIn(h, [list], 1500);
    const moved = inMs(3500);
    const patched = await moveEmbargo(id, moved);
    expect(patched.status).toBe(200);
    expect(patched.json).toMatchObject({ status: 'scheduled', version: 2, embargoAt: moved.toISOString() });
    expect(patched.json.embargo.local).toMatchObject({
      timeZone: 'Europe/London',
      offset: expect.any(String),
      abbreviation: expect.any(String),
    });
    expect(patched.json.embargo.displayZones.map((z: { timeZone: string }) => z.timeZone)).toContain('Asia/Seoul');

    // The old instant has passed and the old version's lift job, if the move left it, has fired and
    // finished: a copy sent for the old instant would be here.
    await instantPassed(old);
    await jobsFinished(h.ctx.queues.lift, [liftJobId(id, 1)]);
    expect(received('later')).toHaveLength(0);
    await releaseReaches(h, id, 'sent');
    expect(recipients('later')).toEqual(emails('later', 3));
    for (const message of received('later')) expect(message.startedAt).toBeGreaterThanOrEqual(moved.getTime());
  });

  it('earlier: everything once at the new instant, long before the old one', async () => {
    const list = await listWith(h, 'Earlier', people('earlier', 3));
    const { id, embargoAt: old } = await scheduleIn(h, [list], 60_000);
    const moved = inMs(1500);
    expect((await moveEmbargo(id, moved)).status).toBe(200);
    await releaseReaches(h, id, 'sent');
    expect(recipients('earlier')).toEqual(emails('earlier', 3));
    for (const message of received('earlier')) {
      expect(message.startedAt).toBeGreaterThanOrEqual(moved.getTime());
      expect(message.startedAt).toBeLessThan(old.getTime());
    }
  });

  it('many times quickly: only the last instant sends, and only once', async () => {
    const list = await listWith(h, 'Jittery', people('jitter', 3));
    const { id } = await scheduleIn(h, [list], 1500);
    const instants = [2500, 1500, 3000, 2000, 1600, 2600, 2100, 3100].map((ms) => new Date(Date.now() + ms));
    const answers = await Promise.all(instants.map((at) => moveEmbargo(id, at)));
    expect(answers.map((a) => a.status)).toEqual(instants.map(() => 200));
    const final = await releaseStatus(h, id);
    expect(final.version).toBe(1 + instants.length);

    await releaseReaches(h, id, 'sent');
    // Every job due by the last instant (a stale version's, if a move left it) has fired and finished.
    await queuesSettled(h.ctx, Math.max(...instants.map((i) => i.getTime())));
    await jobsFinished(
      h.ctx.queues.lift,
      instants.map((_, n) => liftJobId(id, 1 + n)),
    );
    expect(recipients('jitter')).toEqual(emails('jitter', 3));
    for (const message of received('jitter'))
      expect(message.startedAt).toBeGreaterThanOrEqual(new Date(final.embargoAt).getTime());
    const audit = (await h.api('GET', `/api/releases/${id}/audit`)).json.items;
    expect(audit.filter((entry: { action: string }) => entry.action === 'reschedule')).toHaveLength(instants.length);
  });

  it('sends the content as edited before the lift, to the lists as edited', async () => {
    const first = await listWith(h, 'Edited first', people('edited-a', 2));
    const second = await listWith(h, 'Edited second', people('edited-b', 1));
    const { id } = await scheduleIn(h, [first], 1500);
    const patched = await h.api('PATCH', `/api/releases/${id}`, {
      title: 'Sensor launch moved',
      body: 'The **revised** text.',
      listIds: [second, first],
    });
    expect(patched.json).toMatchObject({
      status: 'scheduled',
      version: 2,
      title: 'Sensor launch moved',
      listIds: [second, first],
    });
    await releaseReaches(h, id, 'sent');
    expect(recipients('edited')).toEqual([...emails('edited-a', 2), ...emails('edited-b', 1)]);
    for (const message of received('edited')) {
      expect(message.mail.subject).toBe('Sensor launch moved');
      expect(message.mail.html).toContain('<strong>revised</strong>');
    }
  });

  it('an edit racing the lift: every copy is of one version, and each recipient gets one', async () => {
    const offsets = [-150, -50, 0, 50, 150];
    await Promise.all(
      offsets.map(async (offset, n) => {
        const list = await listWith(h, `Race ${n}`, people(`race${n}-`, 2));
        const { id, embargoAt } = await scheduleIn(h, [list], 1500);
        await sleep(embargoAt.getTime() + offset - Date.now()); // the edit is sent at this instant: not an absence window
        const edit = await h.api('PATCH', `/api/releases/${id}`, { title: `Corrected ${n}` });
        expect([200, 409]).toContain(edit.status);
        const sent = await releaseReaches(h, id, 'sent');
        // Every job due by now has finished: a second copy, of either version, would be here.
        await queuesSettled(h.ctx);
        const copies = received(`race${n}-`);
        expect(copies.map((m) => m.to[0]).sort()).toEqual(emails(`race${n}-`, 2));
        const expected = edit.status === 200 ? `Corrected ${n}` : 'Quantum sensor maps brain activity';
        for (const copy of copies) expect(copy.mail.subject).toBe(expected);
        const rows = await h.ctx.db
          .selectFrom('deliveries')
          .select(['state', 'release_version', 'attempts'])
          .where('release_id', '=', id)
          .execute();
        expect(rows).toEqual([0, 1].map(() => ({ state: 'sent', release_version: sent.version, attempts: 1 })));
      }),
    );
  });
});

describe('unscheduling', () => {
  it('sends nothing, and a release scheduled again is sent once at its new embargo', async () => {
    const list = await listWith(h, 'Pulled', people('pulled', 2));
    const { id, embargoAt } = await scheduleIn(h, [list], 1200);
    const pulled = await h.api('POST', `/api/releases/${id}/unschedule`);
    expect(pulled.json).toMatchObject({ status: 'draft', version: 2 });
    // The instant has passed and every job due by it (the unscheduled version's, if left) has run.
    await instantPassed(embargoAt);
    await jobsFinished(h.ctx.queues.lift, [liftJobId(id, 1)]);
    await queuesSettled(h.ctx, embargoAt);
    expect(received('pulled')).toHaveLength(0);
    expect((await releaseStatus(h, id)).status).toBe('draft');

    const again = inMs(1500);
    expect((await moveEmbargo(id, again)).status).toBe(200);
    expect((await h.api('POST', `/api/releases/${id}/schedule`)).status).toBe(200);
    await releaseReaches(h, id, 'sent');
    expect(recipients('pulled')).toEqual(emails('pulled', 2));
    for (const message of received('pulled')) expect(message.startedAt).toBeGreaterThanOrEqual(again.getTime());
  });

  it('refuses to unschedule a draft', async () => {
    const list = await listWith(h, 'Draft only', people('draft', 1));
    const draft = await createRelease(h, [list], inMs(60_000));
    const answer = await h.api('POST', `/api/releases/${draft.id}/unschedule`);
    expect(answer.status).toBe(409);
    expect(answer.json).toMatchObject({ error: 'conflict', message: expect.stringContaining('draft') });
  });
});

describe('edits that are refused whole', () => {
  it('answers 409 to content and embargo edits once sending has begun', async () => {
    const list = await listWith(h, 'Done', people('done', 1));
    const { id } = await scheduleIn(h, [list], 1200);
    const sent = await releaseReaches(h, id, 'sent');
    for (const change of [{ title: 'Too late' }, { embargo: { at: inMs(60_000).toISOString() } }]) {
      const answer = await h.api('PATCH', `/api/releases/${id}`, change);
      expect(answer.status).toBe(409);
      expect(answer.json.message).toMatch(/sending has begun/);
    }
    expect((await releaseStatus(h, id)).version).toBe(sent.version);
  });

  it('refuses DST gaps, ambiguous hours, past and unknown-zone embargoes, naming the field, and changes nothing', async () => {
    const list = await listWith(h, 'Zones', people('zones', 1));
    const draft = await createRelease(h, [list], inMs(3_600_000));
    const cases: Array<[unknown, string, RegExp]> = [
      [{ local: '2031-03-09T02:30', timeZone: 'America/New_York' }, 'embargo.local', /does not exist.*02:00 to 03:00/],
      [{ local: '2031-03-30T01:30', timeZone: 'Europe/London' }, 'embargo.local', /does not exist.*01:00 to 02:00/],
      [{ local: '2031-11-02T01:30', timeZone: 'America/New_York' }, 'embargo.local', /twice.*EDT.*EST/],
      [{ local: '2031-10-26T01:30', timeZone: 'Europe/London' }, 'embargo.local', /twice.*BST.*GMT/],
      [{ local: '2031-10-26T01:30', timeZone: 'Europe/Londres' }, 'embargo.timeZone', /unknown time zone/],
      [{ at: '2019-10-18T00:01:00-04:00' }, 'embargo', /in the past/],
    ];
    for (const [embargo, field, message] of cases) {
      const answer = await h.api('PATCH', `/api/releases/${draft.id}`, { embargo, title: 'Never saved' });
      expect(answer.status).toBe(400);
      expect(answer.json).toMatchObject({ error: 'invalid_embargo', details: { field } });
      expect(answer.json.message).toMatch(message);
    }
    const fieldCases: Array<[unknown, RegExp]> = [
      [{}, /give at least one of title/],
      [{ status: 'sent' }, /"status"/],
      [{ title: '' }, /^title:/],
      [{ listIds: [424242] }, /^listIds: .*424242/],
    ];
    for (const [body, message] of fieldCases) {
      const answer = await h.api('PATCH', `/api/releases/${draft.id}`, body);
      expect(answer.status).toBe(400);
      expect(answer.json.message).toMatch(message);
    }
    const unchanged = await releaseStatus(h, draft.id);
    expect(unchanged).toMatchObject({ version: 1, title: draft.title, embargoAt: draft.embargoAt });
  });

  it('accepts the fall-back hour with an offset, and shows it in the zone people read', async () => {
    const list = await listWith(h, 'Fall back', people('fall', 1));
    const draft = await createRelease(h, [list], inMs(3_600_000));
    const answer = await h.api('PATCH', `/api/releases/${draft.id}`, {
      embargo: { local: '2031-11-02T01:30', timeZone: 'America/New_York', offset: '-05:00' },
    });
    expect(answer.status).toBe(200);
    expect(answer.json.embargoAt).toBe('2031-11-02T06:30:00.000Z');
    expect(answer.json.embargo.local).toMatchObject({
      abbreviation: 'EST',
      offset: '-05:00',
      text: '01:30 EST, Sunday 2 November 2031',
    });
    expect(answer.json.embargo.phrase).toBe('01:30 EST, Sunday 2 November 2031 (06:30 UTC)');
  });
});
