import type { Job } from 'bullmq';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { findRelease, markFanoutDone } from '../../src/db/releases.js';
import type { ReleaseStatus } from '../../src/states.js';
import type { Mailer } from '../../src/mail/transport.js';
import { processAdvance } from '../../src/pipeline/advance.js';
import type { LiftJob } from '../../src/queue/index.js';
import { beginSending, completeRelease, TRANSITIONS, type Action } from '../../src/releases/lifecycle.js';
import { organisation } from '../../src/render/organisation.js';
import { RenderCache } from '../../src/releases/renders.js';
import { createRelease, listWith } from '../support/fixtures.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';

// No workers: every state stays as a step leaves it, so a refused request can be shown to change nothing.
let h: Harness;
let listId: number;

beforeAll(async () => {
  h = await createHarness();
  listId = await listWith(h, 'Lifecycle desk', [{ email: 'lifecycle@example.org' }]);
});
afterAll(async () => h?.close());

const STATES: ReleaseStatus[] = ['draft', 'scheduled', 'sending', 'sent', 'cancelled'];

/** Each action as staff call it, through the API. */
const ACTIONS: Record<Action, (id: number) => Promise<{ status: number; json: any }>> = {
  schedule: (id) => h.api('POST', `/api/releases/${id}/schedule`),
  edit: (id) => h.api('PATCH', `/api/releases/${id}`, { title: 'Edited title' }),
  attach: (id) =>
    h.api('POST', `/api/releases/${id}/attachments?filename=notes.pdf`, '%PDF-1.4', {
      'content-type': 'application/pdf',
    }),
  unschedule: (id) => h.api('POST', `/api/releases/${id}/unschedule`),
  lift: (id) => h.api('POST', `/api/releases/${id}/lift`, { reason: 'published early' }),
  cancel: (id) => h.api('POST', `/api/releases/${id}/cancel`, { reason: 'withdrawn' }),
  retry: (id) => h.api('POST', `/api/releases/${id}/retry`),
  correct: (id) =>
    h.api('POST', `/api/releases/${id}/corrections`, { body: 'Corrected body.', note: 'a figure was wrong' }),
};

/** The specification: what each allowed (state, action) leads to, and by how much the version moves. */
const ALLOWED: Partial<Record<ReleaseStatus, Partial<Record<Action, { to: ReleaseStatus; versionStep: number }>>>> = {
  draft: {
    schedule: { to: 'scheduled', versionStep: 0 },
    edit: { to: 'draft', versionStep: 1 },
    attach: { to: 'draft', versionStep: 1 },
    lift: { to: 'scheduled', versionStep: 1 },
  },
  scheduled: {
    edit: { to: 'scheduled', versionStep: 1 },
    unschedule: { to: 'draft', versionStep: 1 },
    lift: { to: 'scheduled', versionStep: 1 },
    cancel: { to: 'cancelled', versionStep: 0 },
  },
  sending: { cancel: { to: 'cancelled', versionStep: 0 }, retry: { to: 'sending', versionStep: 0 } },
  sent: { retry: { to: 'sent', versionStep: 0 }, correct: { to: 'sent', versionStep: 1 } },
};

/** A release in the given state, each step taken as in production (staff through the API, the lift and completion as the worker does them). */
async function releaseIn(state: ReleaseStatus): Promise<number> {
  const { id } = await createRelease(h, [listId], new Date(Date.now() + 3_600_000));
  const step = async (action: Action) => expect((await ACTIONS[action](id)).status).toBe(200);
  if (state === 'scheduled' || state === 'cancelled') await step('schedule');
  if (state === 'cancelled') await step('cancel');
  if (state === 'sending' || state === 'sent') {
    await step('lift');
    const [lifted] = await beginSending(h.ctx, [(await findRelease(h.ctx.db, id))!]);
    expect(lifted?.status).toBe('sending');
  }
  if (state === 'sent') {
    expect(await markFanoutDone(h.ctx.db, id, 2)).toBe(true);
    expect((await completeRelease(h.ctx, id))?.status).toBe('sent');
  }
  return id;
}

/** Every row and job a lifecycle change could touch for one release. */
async function footprint(id: number) {
  const { db } = h.ctx;
  const rows = async (
    table: 'releases' | 'release_lists' | 'deliveries' | 'audit' | 'release_attachments',
    key: 'id' | 'release_id',
  ) =>
    (
      await sql<
        Record<string, unknown>
      >`SELECT * FROM ${sql.table(table)} WHERE ${sql.ref(key)} = ${id} ORDER BY 1, 2`.execute(db)
    ).rows;
  const jobs = (await h.ctx.queues.lift.getJobs(['delayed', 'waiting', 'active', 'completed', 'failed']))
    .filter((job) => job.data.releaseId === id)
    .map((job) => job.id)
    .sort();
  return {
    release: await rows('releases', 'id'),
    lists: await rows('release_lists', 'release_id'),
    deliveries: await rows('deliveries', 'release_id'),
    audit: await rows('audit', 'release_id'),
    files: (await rows('release_attachments', 'release_id')).map((f) => f.id),
    jobs,
  };
}

describe('the release lifecycle, every (state, action) pair through the API', () => {
  it('covers every action the lifecycle defines', () => {
    expect(Object.keys(ACTIONS).sort()).toEqual(Object.keys(TRANSITIONS).sort());
  });

  for (const state of STATES) {
    for (const action of Object.keys(ACTIONS) as Action[]) {
      const allowed = ALLOWED[state]?.[action];
      it(`${state} + ${action}: ${allowed ? `→ ${allowed.to}` : '409, nothing changes'}`, async () => {
        const id = await releaseIn(state);
        const before = await footprint(id);
        const answer = await ACTIONS[action](id);
        if (!allowed) {
          expect(answer.status).toBe(409);
          expect(answer.json).toMatchObject({ error: 'conflict', message: expect.stringContaining(`is ${state}`) });
          expect(await footprint(id)).toEqual(before);
          return;
        }
        expect(answer.status).toBe(action === 'attach' || action === 'correct' ? 201 : 200);
        const after = (await h.api('GET', `/api/releases/${id}`)).json;
        expect([after.status, after.version]).toEqual([
          allowed.to,
          (before.release[0]!.version as number) + allowed.versionStep,
        ]);
        const audited = (await footprint(id)).audit.slice(before.audit.length).map((entry) => entry.action);
        expect(audited).toHaveLength(1);
      });
    }
  }

  it('answers 404 for every action on a release that does not exist', async () => {
    for (const action of Object.keys(ACTIONS) as Action[]) {
      expect((await ACTIONS[action](424242)).status, action).toBe(404);
    }
  });
});

describe('lists of a release', () => {
  it('moves a list from the advance lists to the lift lists in one PATCH', async () => {
    const vetted = await listWith(h, 'Vetted movers', [{ email: 'v@example.org' }]);
    const other = await listWith(h, 'Other vetted', [{ email: 'o@example.org' }]);
    const release = await createRelease(h, [listId], new Date(Date.now() + 3_600_000), {
      advance: { listIds: [vetted], leadSeconds: 600 },
    });
    const moved = await h.api('PATCH', `/api/releases/${release.id}`, {
      listIds: [listId, vetted],
      advance: { listIds: [other], leadSeconds: 600 },
    });
    expect(moved.status).toBe(200);
    expect([moved.json.listIds, moved.json.advance.listIds]).toEqual([[listId, vetted], [other]]);
    const back = await h.api('PATCH', `/api/releases/${release.id}`, {
      listIds: [listId],
      advance: { listIds: [vetted, other], leadSeconds: 600 },
    });
    expect([back.status, back.json.listIds, back.json.advance.listIds]).toEqual([200, [listId], [vetted, other]]);
  });
});

describe('the advance step', () => {
  it('freezes nothing for a version that an edit replaced while the step was running', async () => {
    const vetted = await listWith(h, 'Vetted racers', [
      { email: 'racer-a@example.org' },
      { email: 'racer-b@example.org' },
    ]);
    const embargoAt = new Date(Date.now() + 60_000);
    const release = await createRelease(h, [listId], embargoAt, { advance: { listIds: [vetted], leadSeconds: 57 } });
    expect((await h.api('POST', `/api/releases/${release.id}/schedule`)).status).toBe(200);
    await waitUntil(async () => Date.now() > embargoAt.getTime() - 56_500 && true, 10_000, 'the advance time');

    // The edit lands between the step's version check and its freeze: while it compiles the email.
    const renders = new RenderCache(h.ctx.db, organisation(h.config));
    const racing: Pick<RenderCache, 'get'> = {
      get: async (source, phase) => {
        expect((await h.api('PATCH', `/api/releases/${release.id}`, { title: 'Changed meanwhile' })).status).toBe(200);
        return renders.get(source, phase);
      },
    };
    const job = { id: 'advance-race', data: { releaseId: release.id, version: 1, phase: 'advance' } } as Job<LiftJob>;
    await processAdvance({ ctx: h.ctx, renders: racing as RenderCache, mailer: {} as Mailer }, job);
    const staged = await h.ctx.db
      .selectFrom('deliveries')
      .select(['id', 'state'])
      .where('release_id', '=', release.id)
      .execute();
    expect(staged).toEqual([]);
  });
});
