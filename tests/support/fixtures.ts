import { sql } from 'kysely';
import { waitUntil, type Harness } from './harness.js';

export interface Person {
  email: string;
  name?: string;
  outlet?: string;
}

/** Creates a list with the given subscribers through the API, as staff would. */
export async function listWith(h: Harness, name: string, people: Person[]): Promise<number> {
  const list = await h.api('POST', '/api/lists', { name });
  if (list.status !== 201) throw new Error(`list: ${list.status} ${list.body}`);
  for (const person of people) {
    const added = await h.api('POST', `/api/lists/${list.json.id}/subscribers`, person);
    if (added.status >= 300) throw new Error(`subscriber: ${added.status} ${added.body}`);
  }
  return list.json.id as number;
}

/** Bulk subscribers through the CSV import (fast enough for thousands). */
export async function listOfSize(h: Harness, name: string, count: number, domain = 'example.org'): Promise<number> {
  const list = await h.api('POST', '/api/lists', { name });
  const csv = ['email,name', ...Array.from({ length: count }, (_, i) => `reader${i}@${domain},Reader ${i}`)].join('\n');
  const imported = await h.api('POST', `/api/lists/${list.json.id}/subscribers/import`, csv, {
    'content-type': 'text/csv',
  });
  if (imported.json.added !== count) throw new Error(`import: ${imported.body}`);
  return list.json.id as number;
}

export async function createRelease(
  h: Harness,
  listIds: number[],
  embargoAt: Date,
  extra: Record<string, unknown> = {},
) {
  const created = await h.api('POST', '/api/releases', {
    title: 'Quantum sensor maps brain activity',
    summary: 'A new sensor reads neurons without surgery.',
    body: '## Findings\n\nThe **sensor** works at room temperature.\n\n- fast\n- cheap',
    embargo: { at: embargoAt.toISOString(), timeZone: 'America/New_York' },
    listIds,
    ...extra,
  });
  if (created.status !== 201) throw new Error(`release: ${created.status} ${created.body}`);
  return created.json;
}

export async function scheduleIn(h: Harness, listIds: number[], ms: number, extra: Record<string, unknown> = {}) {
  const embargoAt = new Date(Math.ceil((Date.now() + ms) / 1000) * 1000);
  const release = await createRelease(h, listIds, embargoAt, extra);
  const scheduled = await h.api('POST', `/api/releases/${release.id}/schedule`);
  if (scheduled.status !== 200) throw new Error(`schedule: ${scheduled.status} ${scheduled.body}`);
  return { id: release.id as number, embargoAt };
}

export async function releaseStatus(h: Harness, id: number) {
  return (await h.api('GET', `/api/releases/${id}`)).json;
}

/** Waits until a release reaches a status, and returns it as the API shows it. */
export async function releaseReaches(h: Harness, id: number, status: string, timeoutMs = 30_000) {
  return waitUntil(
    async () => {
      const release = await releaseStatus(h, id);
      return release.status === status && release;
    },
    timeoutMs,
    `release ${id} ${status}`,
  );
}

/** Row counts of everything an API write can touch: equal before and after proves a refused request wrote nothing. */
export async function footprint(h: Harness): Promise<Record<string, number>> {
  const { rows } = await sql<Record<string, number>>`
    SELECT (SELECT count(*) FROM releases)::int AS releases, (SELECT count(*) FROM release_lists)::int AS release_lists,
           (SELECT count(*) FROM subscribers)::int AS subscribers, (SELECT count(*) FROM list_members)::int AS members,
           (SELECT count(*) FROM lists)::int AS lists, (SELECT count(*) FROM audit)::int AS audit`.execute(h.ctx.db);
  return rows[0]!;
}
