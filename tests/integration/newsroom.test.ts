import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createRelease, listWith, releaseStatus } from '../support/fixtures.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await createHarness({ MAX_ATTACHMENT_BYTES: '50000', ORG_NAME: 'Northbridge Institute' });
  await h.startWorkers();
});
afterAll(async () => {
  await h?.close();
});

/** What anyone on the internet can fetch: no token, no cookie. */
const publicGet = (url: string) => h.app.inject({ method: 'GET', url });
const upload = (id: number, filename: string, body: Buffer | string, type = 'application/pdf') =>
  h.api('POST', `/api/releases/${id}/attachments?filename=${encodeURIComponent(filename)}`, body as string, {
    'content-type': type,
  });

describe('the public newsroom', () => {
  it('shows nothing of an embargoed release before the instant, and all of it after', async () => {
    const list = await listWith(h, 'Newsroom desk', [{ email: 'ada@example.org' }]);
    const secrets = {
      title: 'Falcon probe finds water on Callisto',
      summary: 'Quietly-guarded-summary-7741',
      body: 'zebra-lantern-4242 ocean under the ice',
    };
    const embargoAt = new Date(Math.ceil((Date.now() + 3000) / 1000) * 1000);
    const release = await createRelease(h, [list], embargoAt, { ...secrets });
    const pdf = Buffer.from('%PDF-1.4\nattachment-secret-9090\n%%EOF');
    const file = await upload(release.id, 'Callisto findings.pdf', pdf);
    expect(file.status).toBe(201);
    expect(file.json.url).toBe(`https://news.example.org/files/${file.json.id}/Callisto%20findings.pdf`);
    // The public address is made at the lift; this is the one it will have.
    expect(release.slug).toBeNull();
    const slug = `falcon-probe-finds-water-on-callisto-${release.id}`;
    expect((await h.api('POST', `/api/releases/${release.id}/schedule`)).status).toBe(200);
    // The email links the file rather than attaching it.
    expect((await h.api('GET', `/api/releases/${release.id}/preview?format=text`)).body).toContain(file.json.url);
    const filePath = new URL(file.json.url).pathname;

    const unknownPage = await publicGet('/releases/no-such-release-000000');
    const unknownFile = await publicGet(`/files/999999/x.pdf`);
    expect(unknownPage.statusCode).toBe(404);
    // The file by its id alone, and by the address emails sent before slugs were made at the lift used.
    const legacyPath = `/releases/${slug}/files/${file.json.id}/Callisto%20findings.pdf`;
    const urls = [
      '/releases',
      '/releases/feed.xml',
      `/releases/${slug}`,
      filePath,
      `/files/${file.json.id}`,
      legacyPath,
    ];
    const leaks = (text: string) =>
      [secrets.title, secrets.summary, 'zebra-lantern-4242', 'attachment-secret-9090', slug].filter((s) =>
        text.includes(s),
      );

    // Round after round until the lift worker has lifted it (PostgreSQL's lifted_at): every round
    // that ended with the release still not lifted must show nothing, right up to the lift.
    const lifted = async () =>
      (await h.ctx.db.selectFrom('releases').select('lifted_at').where('id', '=', release.id).executeTakeFirstOrThrow())
        .lifted_at;
    let checks = 0;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const answers = [];
      for (const url of urls) answers.push([url, await publicGet(url)] as const);
      if (await lifted()) break;
      for (const [url, answer] of answers) {
        expect(leaks(answer.body), `${url} before the lift`).toEqual([]);
        if (url === `/releases/${slug}`) {
          expect(answer.statusCode).toBe(404);
          expect(answer.body).toBe(unknownPage.body);
          expect(answer.headers['content-type']).toBe(unknownPage.headers['content-type']);
          expect(answer.headers['cache-control']).toBe(unknownPage.headers['cache-control']);
        }
        if (url.includes('/files/')) expect([answer.statusCode, answer.body]).toEqual([404, unknownFile.body]);
      }
      checks += 1;
      if (Date.now() > deadline) throw new Error('timed out waiting for the lift');
      await new Promise((r) => setTimeout(r, 100)); // the pace of the rounds, not a window
    }
    expect(checks).toBeGreaterThan(2);
    // The rounds ran up to the embargo at least: the lift came no earlier.
    expect((await lifted())!.getTime()).toBeGreaterThanOrEqual(embargoAt.getTime());

    await waitUntil(async () => (await releaseStatus(h, release.id)).status === 'sent', 30_000, 'release sent');
    expect((await releaseStatus(h, release.id)).slug).toBe(slug);
    const index = await publicGet('/releases');
    expect(index.body).toContain(secrets.title);
    expect(index.body).toContain(`href="/releases/${slug}"`);
    const page = await publicGet(`/releases/${slug}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).toContain(secrets.title);
    expect(page.body).toContain('zebra-lantern-4242');
    expect(page.body).toContain(`href="/files/${file.json.id}/Callisto%20findings.pdf"`);
    const feed = await publicGet('/releases/feed.xml');
    expect(feed.headers['content-type']).toContain('application/atom+xml');
    expect(feed.body).toContain(`<title>${secrets.title}</title>`);
    expect(feed.body).toContain(`<id>https://news.example.org/releases/${slug}</id>`);
    for (const url of [filePath, legacyPath]) {
      const served = await publicGet(url);
      expect(served.statusCode).toBe(200);
      expect(served.headers['content-type']).toBe('application/pdf');
      expect(served.rawPayload.equals(pdf)).toBe(true);
    }
  });

  it('makes the public address at the lift, from the title then current; nothing before it carries the headline', async () => {
    const list = await listWith(h, 'Retitle desk', [{ email: 'retitle@example.org' }]);
    const vetted = await listWith(h, 'Retitle vetted', [{ email: 'retitle-vetted@example.org' }]);
    const embargoAt = new Date(Math.ceil((Date.now() + 3_600_000) / 1000) * 1000);
    const draft = await createRelease(h, [list], embargoAt, {
      title: 'Falcon probe reaches Europa',
      advance: { listIds: [vetted], leadSeconds: 60 },
    });
    const file = await upload(draft.id, 'Europa plumes.pdf', '%PDF-1.4 plumes');
    const words = /falcon|europa|plumes/i;
    expect(draft.slug).toBeNull();
    expect(file.json.url).toBe(`https://news.example.org/files/${file.json.id}/Europa%20plumes.pdf`);
    // The advance copy's file link, what the lift queue holds, and the staff view carry no words of it.
    const advance = (await h.api('GET', `/api/releases/${draft.id}/preview?phase=advance`)).body;
    const links = [...advance.matchAll(/href="(https:\/\/news\.example\.org\/files\/[^"]+)"/g)].map((m) => m[1]!);
    expect(links).toHaveLength(1);
    expect(links[0]).toMatch(/^https:\/\/news\.example\.org\/files\/\d+\?key=[\w.-]+$/);
    expect((await h.api('POST', `/api/releases/${draft.id}/schedule`)).status).toBe(200);
    const jobs = await h.ctx.queues.lift.getJobs(['delayed', 'waiting']);
    expect(jobs.filter((j) => j.data.releaseId === draft.id)).toHaveLength(2);
    for (const job of jobs) expect(JSON.stringify({ id: job.id, name: job.name, data: job.data })).not.toMatch(words);

    // Retitled, then lifted: the address follows the title it was lifted with.
    expect((await h.api('PATCH', `/api/releases/${draft.id}`, { title: 'Orion lander touches down' })).status).toBe(
      200,
    );
    expect((await h.api('POST', `/api/releases/${draft.id}/lift`, { reason: 'the agency announced it' })).status).toBe(
      200,
    );
    const sent = await waitUntil(
      async () => {
        const release = await releaseStatus(h, draft.id);
        return release.status === 'sent' && release;
      },
      30_000,
      'release sent',
    );
    expect(sent.slug).toBe(`orion-lander-touches-down-${draft.id}`);
    expect((await publicGet(`/releases/${sent.slug}`)).statusCode).toBe(200);
    const unknown = await publicGet('/releases/no-such-release-000000');
    const draftAddress = await publicGet(`/releases/falcon-probe-reaches-europa-${draft.id}`);
    expect([draftAddress.statusCode, draftAddress.body]).toEqual([404, unknown.body]);
  });

  it('refuses a file that is empty, too large, oddly named, or added after scheduling', async () => {
    const list = await listWith(h, 'Files desk', [{ email: 'grace@example.org' }]);
    const release = await createRelease(h, [list], new Date(Date.now() + 3_600_000));
    const empty = await upload(release.id, 'empty.pdf', '');
    expect([empty.status, empty.json.error]).toEqual([400, 'invalid_input']);
    expect(empty.json.message).toContain('body');
    expect((await upload(release.id, 'big.pdf', Buffer.alloc(60_000, 1))).status).toBe(413);
    const slashed = await upload(release.id, '../etc/passwd', 'x');
    expect([slashed.status, slashed.json.message]).toEqual([400, expect.stringContaining('filename')]);
    expect((await upload(release.id, 'notes.txt', 'x', 'not a type')).status).toBe(415);
    expect((await h.api('POST', `/api/releases/${release.id}/schedule`)).status).toBe(200);
    expect((await upload(release.id, 'late.pdf', 'x')).status).toBe(409);
    expect((await h.api('GET', `/api/releases/${release.id}/attachments`)).json.items).toEqual([]);
  });
});
