import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password.js';
import { createAccount } from '../../src/db/accounts.js';
import { consoleClient, PASSWORD } from '../support/console-client.js';
import { createRelease, listWith, releaseStatus } from '../support/fixtures.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';
import { captureLog } from '../support/log-capture.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

/**
 * A whole embargoed flow with every log line captured at debug level: the setup link, advance
 * copies with a file fetched by its key, unsubscribing and asking to come back, a password reset,
 * the lift. No line may carry the release's text or any token, key or link secret.
 */
const log = captureLog();
let h: Harness;
let smtp: TestSmtp;

beforeAll(async () => {
  smtp = await startSmtp();
  h = await createHarness({ SMTP_URL: smtp.url, LOG_LEVEL: 'debug' }, { log: log.stream });
  await h.startWorkers();
});
afterAll(async () => {
  await h?.close();
  await smtp?.close();
});

describe('logs', () => {
  it('carry route patterns and ids, never embargoed text, tokens or keys', async () => {
    const secrets: string[] = [h.token];
    const text = {
      title: 'Ocelot-Quasar-8812 survey',
      summary: 'Marmalade-Tundra-3307 in brief',
      body: 'The **Periwinkle-Harbor-6620** result holds.',
    };
    secrets.push('Ocelot-Quasar-8812', 'Marmalade-Tundra-3307', 'Periwinkle-Harbor-6620');

    // The first-start setup link.
    const admin = consoleClient(h, '192.0.2.20');
    const created = await admin.setUpFirstAdmin('first-admin@example.org');
    secrets.push(created.token);
    expect(created.answer.statusCode).toBe(303);
    secrets.push(admin.jar.get('presslift_session')!, admin.jar.get('XSRF-TOKEN')!);

    // A release with advance copies and a file.
    const vetted = await listWith(h, 'Vetted', [{ email: 'vetted@example.org', name: 'Vera Vetted' }]);
    const general = await listWith(h, 'General', [{ email: 'general@example.org', name: 'Gene General' }]);
    const embargoAt = new Date(Math.ceil((Date.now() + 5000) / 1000) * 1000);
    const release = await createRelease(h, [general], embargoAt, {
      ...text,
      advance: { listIds: [vetted], leadSeconds: 3 },
    });
    const fileBody = 'Bramble-Cobalt-4471 figures';
    secrets.push(fileBody);
    expect(
      (
        await h.api('POST', `/api/releases/${release.id}/attachments?filename=figures.txt`, fileBody, {
          'content-type': 'text/plain',
        })
      ).status,
    ).toBe(201);
    expect((await h.api('POST', `/api/releases/${release.id}/schedule`)).status).toBe(200);
    expect((await h.api('GET', `/api/releases/${release.id}/preview`)).status).toBe(200);

    // The advance copy: its file fetched by key, its unsubscribe link followed, a way back asked for.
    const [advance] = await smtp.waitFor(1);
    const html = advance!.mail.html as string;
    const fileUrl = new URL(
      /href="(https:\/\/news\.example\.org\/files\/[^"]+\?key=[^"]+)"/.exec(html)![1]!.replace(/&amp;/g, '&'),
    );
    secrets.push(fileUrl.searchParams.get('key')!);
    expect((await h.app.inject({ method: 'GET', url: fileUrl.pathname + fileUrl.search })).statusCode).toBe(200);
    const unsubscribe = new URL(/^List-Unsubscribe: <([^>]+)>/m.exec(advance!.raw)![1]!);
    secrets.push(unsubscribe.pathname.split('/').pop()!);
    const form = { 'content-type': 'application/x-www-form-urlencoded' };
    expect((await h.app.inject({ method: 'GET', url: unsubscribe.pathname })).statusCode).toBe(200);
    expect(
      (
        await h.app.inject({
          method: 'POST',
          url: unsubscribe.pathname,
          headers: form,
          payload: 'List-Unsubscribe=One-Click',
        })
      ).statusCode,
    ).toBe(200);
    expect(
      (
        await h.app.inject({
          method: 'POST',
          url: `${unsubscribe.pathname}/resubscribe`,
          headers: form,
          payload: 'x=1',
        })
      ).statusCode,
    ).toBe(200);
    const confirmation = await waitUntil(
      async () => smtp.messages.find((m) => m.mail.subject?.startsWith('Confirm:')),
      30_000,
      'the confirmation mail',
    );
    const back = /https:\/\/news\.example\.org(\/resubscribe\/(\S+))/.exec(confirmation.mail.text!)!;
    secrets.push(back[2]!);
    expect((await h.app.inject({ method: 'GET', url: back[1]! })).statusCode).toBe(200);

    // A password reset, its link opened.
    await createAccount(h.ctx.db, 'staff@example.org', 'editor', await hashPassword(PASSWORD));
    const forgetful = consoleClient(h, '192.0.2.21');
    expect(
      (await forgetful.submit('/console/reset', '/console/reset', { email: 'staff@example.org' })).statusCode,
    ).toBe(200);
    const resetMail = await waitUntil(
      async () => smtp.messages.find((m) => m.to[0] === 'staff@example.org'),
      30_000,
      'the reset mail',
    );
    const reset = /https:\/\/news\.example\.org(\/console\/reset\/([A-Za-z0-9_-]+))/.exec(resetMail.mail.text!)!;
    secrets.push(reset[2]!);
    expect((await forgetful.request({ method: 'GET', url: reset[1]! })).statusCode).toBe(200);

    // The lift, and a 404 for a made-up secret-looking path.
    await waitUntil(async () => (await releaseStatus(h, release.id)).status === 'sent', 30_000, 'release sent');
    expect(
      (await h.app.inject({ method: 'GET', url: '/no/such/Quokka-Lattice-9090?token=Quokka-Lattice-9090' })).statusCode,
    ).toBe(404);
    secrets.push('Quokka-Lattice-9090');

    const lines = log.lines();
    // The flow was logged (so the search below searched something), by route pattern and id.
    expect(lines.length).toBeGreaterThan(20);
    const requests = log.entries().filter((e) => e.msg === 'request');
    expect(requests).toContainEqual(
      expect.objectContaining({
        method: 'GET',
        route: '/files/:id',
        id: Number(fileUrl.pathname.split('/')[2]),
        status: 200,
      }),
    );
    expect(requests).toContainEqual(
      expect.objectContaining({ method: 'POST', route: '/unsubscribe/:token', status: 200 }),
    );
    expect(requests).toContainEqual(
      expect.objectContaining({ method: 'GET', route: '/console/reset/:token', status: 200 }),
    );
    expect(requests).toContainEqual(expect.objectContaining({ method: 'GET', route: null, status: 404 }));
    expect(log.entries().some((e) => e.releaseId === release.id)).toBe(true);
    const leaks = secrets.flatMap((secret) =>
      lines.filter((line) => line.includes(secret)).map((line) => `${secret}: ${line.slice(0, 200)}`),
    );
    expect(leaks).toEqual([]);
  });
});
