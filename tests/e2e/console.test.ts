import { mkdirSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Browser, Page } from 'playwright-core';
import { DateTime } from 'luxon';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password.js';
import { createAccount } from '../../src/db/accounts.js';
import { chromiumPath, describeInBrowser, launchChromium } from '../support/browser.js';
import { createHarness, type Harness } from '../support/harness.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';
import { listWith } from '../support/fixtures.js';

const SHOTS = 'test-output/screenshots';
const PASSWORD = 'correct horse battery';

let h: Harness;
let smtp: TestSmtp;
let browser: Browser;
let base: string;
let admin: Page;

async function signIn(page: Page, email: string) {
  await page.goto(`${base}/console/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/console\/releases$/);
}

/**
 * A screenshot of the whole page. The viewport is grown to the page's height first: Chromium's
 * own full-page capture can paint the sandboxed preview iframe from a stale frame.
 */
async function shot(page: Page, name: string, wholePage = true) {
  const viewport = page.viewportSize()!;
  if (wholePage) {
    const height = Number(await page.evaluate('document.documentElement.scrollHeight'));
    await page.setViewportSize({ width: viewport.width, height: Math.max(viewport.height, height) });
    await page.waitForTimeout(300);
  }
  await page.screenshot({ path: `${SHOTS}/console-${name}.png` });
  await page.setViewportSize(viewport);
}

beforeAll(async () => {
  if (!chromiumPath) return;
  mkdirSync(SHOTS, { recursive: true });
  smtp = await startSmtp();
  // http, so the session cookie is not Secure and Chromium keeps it on 127.0.0.1.
  h = await createHarness({ SMTP_URL: smtp.url, PUBLIC_URL: 'http://localhost:3000' });
  await h.startWorkers();
  for (const [email, role] of [
    ['press@example.org', 'admin'],
    ['writer@example.org', 'editor'],
  ] as const) {
    await createAccount(h.ctx.db, email, role, await hashPassword(PASSWORD));
  }
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  browser = await launchChromium();
  admin = await browser.newPage({ viewport: { width: 1440, height: 900 } });
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
  await smtp?.close();
});

describeInBrowser('the staff console in a browser', () => {
  it('signs in, builds a list from a CSV, writes and previews a release, schedules it and watches it go out', async () => {
    await admin.goto(`${base}/`);
    await admin.waitForURL(/\/console\/login/);
    await shot(admin, 'login');
    await signIn(admin, 'press@example.org');

    // A list, filled from a CSV with one bad line.
    await admin.goto(`${base}/console/lists`);
    await admin.getByLabel('Name').fill('Science desk');
    await admin.getByRole('button', { name: 'Create list' }).click();
    await admin.waitForURL(/\/console\/lists\/\d+$/);
    const csv =
      'email,name,outlet\nada@example.org,Ada Lovelace,The Engine\nzoe@example.org,Zoë Müller,Die Zeitung\nnot-an-address,Nobody,\n' +
      'jm@example.kr,이정민,Hankyoreh\nfull@example.org,Full Mailbox,Daily Planet\n';
    await admin
      .locator('input[type=file]')
      .setInputFiles({ name: 'journalists.csv', mimeType: 'text/csv', buffer: Buffer.from(csv) });
    await admin.getByRole('button', { name: 'Import' }).click();
    await expect
      .poll(() => admin.locator('[data-import-report]').innerText())
      .toContain('Line 4: email: must be a valid email address');
    expect(await admin.locator('[data-import-report]').innerText()).toContain('4 added');
    await admin.getByRole('link', { name: 'Show the updated list' }).click();
    await expect.poll(() => admin.locator('[data-members] tbody tr').count()).toBe(4);
    await shot(admin, 'list');

    // The editor: the preview shows the email as sent, the embargo check shows the instant.
    await admin.goto(`${base}/console/releases/new`);
    const title = 'Quantum sensor maps brain activity';
    await admin.getByLabel('Headline', { exact: true }).fill(title);
    await admin.getByLabel(/^Summary/).fill('A new sensor reads neurons without surgery.');
    await admin
      .getByLabel(/^Body/)
      .fill('## Findings\n\nThe **sensor** works at room temperature.\n\n- fast\n- cheap\n\n<script>alert(1)</script>');
    await admin.getByLabel(/Science desk/).check();
    // The API's daylight-saving refusal shows before anything is saved.
    await admin.getByLabel('Time zone').selectOption('America/New_York');
    await admin.getByLabel('Date').fill('2030-03-10');
    await admin.getByLabel('Time', { exact: true }).fill('02:30:00');
    await expect
      .poll(() => admin.locator('[data-embargo-check]').innerText())
      .toContain('does not exist in America/New_York: the clocks spring forward');
    await admin.getByLabel('Time zone').selectOption('UTC');
    // A few seconds ahead, in UTC, to the second.
    const embargo = DateTime.utc().plus({ seconds: 12 }).startOf('second');
    await admin.getByLabel('Date').fill(embargo.toFormat('yyyy-MM-dd'));
    await admin.getByLabel('Time', { exact: true }).fill(embargo.toFormat('HH:mm:ss'));
    const preview = admin.frameLocator('iframe[name=preview-frame]');
    await expect.poll(() => preview.locator('body').innerText(), { timeout: 15_000 }).toContain(title);
    expect(await preview.locator('body').innerText()).toContain('Dear Ada Lovelace,');
    expect(await preview.locator('script').count()).toBe(0);
    await expect
      .poll(() => admin.locator('[data-embargo-check]').innerText())
      .toContain(`${embargo.toFormat('yyyy-MM-dd HH:mm:ss')} UTC · offset +00:00`);
    await expect.poll(() => admin.locator('[data-audience]').innerText()).toBe('4 journalists on the chosen lists');
    await admin.getByRole('button', { name: 'Phone 375 px' }).click();
    await expect
      .poll(() => admin.locator('iframe[name=preview-frame]').evaluate((f) => f.getBoundingClientRect().width))
      .toBe(375);
    await shot(admin, 'editor');

    // One mailbox is full: its delivery fails with the server's reply, to be retried from the report.
    smtp.respond = (rcpt) => (rcpt === 'full@example.org' ? { code: 552, message: '5.2.2 mailbox full' } : undefined);
    await admin.getByRole('button', { name: 'Schedule…' }).click();
    const message = admin.locator('#dialog-schedule [data-confirm-message]');
    await expect
      .poll(() => message.innerText())
      .toBe(
        `4 journalists will receive this at ${embargo.toFormat('HH:mm')} UTC ${embargo.setLocale('en-GB').toFormat('ccc d LLL')}.`,
      );
    await shot(admin, 'confirm', false);
    await admin.getByRole('button', { name: 'Confirm' }).click();
    await admin.waitForURL(/\/console\/releases\/\d+$/);
    const releaseId = Number(admin.url().split('/').pop());
    expect(await admin.locator('[data-status-badge]').first().innerText()).toMatch(/scheduled/i);

    // The report page follows the release on its own until it is sent.
    await expect
      .poll(() => admin.locator('h1 + p [data-status-badge]').innerText(), { timeout: 60_000, interval: 500 })
      .toMatch(/^sent$/i);
    expect(await admin.locator('[data-count="failed"]').innerText()).toBe('1');
    expect(await admin.locator('.reply').innerText()).toContain('5.2.2 mailbox full');
    await expect
      .poll(() => admin.frameLocator('iframe[name=preview-frame]').locator('body').innerText(), { timeout: 15_000 })
      .toContain(title);
    await shot(admin, 'report');
    const received = await smtp.waitFor(3);
    expect(received.map((m) => m.to[0]).sort()).toEqual(['ada@example.org', 'jm@example.kr', 'zoe@example.org']);
    for (const m of received) {
      expect(m.mail.subject).toBe(title);
      expect(m.startedAt).toBeGreaterThanOrEqual(embargo.toMillis());
    }

    // The mailbox was emptied: retry the failure from the report.
    smtp.respond = undefined;
    await admin.getByRole('button', { name: 'Retry 1 failed' }).click();
    expect(await admin.locator('#dialog-retry [data-confirm-message]').innerText()).toMatch(
      /^1 failed delivery is queued again/,
    );
    await admin.locator('#dialog-retry button[type=submit]').click();
    await expect
      .poll(() => admin.locator('[data-count="sent"]').first().innerText(), { timeout: 60_000, interval: 500 })
      .toBe('4');
    await expect
      .poll(() => admin.locator('h1 + p [data-status-badge]').innerText(), { timeout: 30_000, interval: 500 })
      .toMatch(/^sent$/i);
    expect((await smtp.waitFor(4)).filter((m) => m.to[0] === 'full@example.org')).toHaveLength(1);

    // The audit trail names the account that did each thing.
    const audit = (await h.api('GET', `/api/releases/${releaseId}/audit`)).json.items;
    expect(
      audit
        .filter((a: { action: string }) => ['create', 'schedule'].includes(a.action))
        .map((a: { actor: string }) => a.actor),
    ).toEqual(['account:press@example.org', 'account:press@example.org']);
    // The worker's own steps are the system's: the retry sent it back to sending, and it completed again.
    expect(audit.slice(-2).map((a: { actor: string; action: string }) => [a.action, a.actor])).toEqual([
      ['retry-failed', 'account:press@example.org'],
      ['completed', 'system'],
    ]);

    await admin.goto(`${base}/console/releases`);
    expect(await admin.locator(`[data-release-row="${releaseId}"] [data-status-badge]`).innerText()).toMatch(/sent/i);
    await shot(admin, 'releases');
    await admin.goto(`${base}/console/accounts`);
    await shot(admin, 'accounts');
    // The same session opens the operators' queue dashboard.
    await admin.goto(`${base}/admin/queues`);
    await expect.poll(() => admin.locator('body').innerText(), { timeout: 15_000 }).toMatch(/lift[\s\S]*send/);
  });

  it('schedules, reschedules, unschedules, lifts and cancels from the release page, confirming each in words', async () => {
    const list = await listWith(h, 'Health desk', [
      { email: 'grace@example.org', name: 'Grace Hopper' },
      { email: 'ada@example.org' },
    ]);
    const inAnHour = DateTime.now().setZone('America/New_York').plus({ hours: 1 }).startOf('minute');
    const draft = await h.api('POST', '/api/releases', {
      title: 'Hospital waiting times fall',
      body: 'Waiting times **fell** by a third.',
      listIds: [list],
      embargo: { local: inAnHour.toFormat("yyyy-MM-dd'T'HH:mm"), timeZone: 'America/New_York' },
    });
    const report = `${base}/console/releases/${draft.json.id}`;
    const confirmIn = async (key: string, expected: RegExp, reason?: string) => {
      await admin.locator(`[data-open="dialog-${key}"]`).click();
      expect(await admin.locator(`#dialog-${key} [data-confirm-message]`).innerText()).toMatch(expected);
      if (reason) await admin.locator(`#dialog-${key} input[name=reason]`).fill(reason);
      await admin.locator(`#dialog-${key} button[type=submit]`).click();
      await admin.waitForLoadState('load');
    };
    const status = () => admin.locator('h1 + p [data-status-badge]').innerText();
    await admin.goto(report);
    const when = `${inAnHour.toFormat('HH:mm')} E[DS]T`;
    await confirmIn('schedule', new RegExp(`^2 journalists will receive this at ${when}`));
    await expect.poll(status).toMatch(/scheduled/i);

    // Reschedule from the editor: the dialog names both instants.
    await admin.getByRole('link', { name: 'Edit' }).click();
    const later = inAnHour.plus({ hours: 2 });
    await admin.getByLabel('Time', { exact: true }).fill(later.toFormat('HH:mm:ss'));
    await admin.getByRole('button', { name: 'Save changes' }).click();
    await expect
      .poll(() => admin.locator('#dialog-schedule [data-confirm-message]').innerText())
      .toMatch(new RegExp(`moves from ${when}.* to ${later.toFormat('HH:mm')} E[DS]T`));
    await admin.getByRole('button', { name: 'Confirm' }).click();
    await admin.waitForURL(report);
    expect(await admin.locator('.stat .big').first().innerText()).toContain(later.toFormat('HH:mm'));

    await confirmIn('unschedule', /goes back to draft/);
    await expect.poll(status).toMatch(/draft/i);
    await confirmIn('schedule', /2 journalists will receive this/);
    await confirmIn(
      'lift',
      /The embargo ends now .* 2 journalists will receive this within minutes/,
      'the journal published early',
    );
    await expect.poll(status, { timeout: 60_000, interval: 500 }).toMatch(/^sent$/i);
    await expect
      .poll(() => smtp.messages.filter((m) => m.mail.subject === 'Hospital waiting times fall').length)
      .toBe(2);
    await expect
      .poll(() => admin.frameLocator('iframe[name=preview-frame]').locator('body').innerText(), { timeout: 15_000 })
      .toContain('Hospital waiting times fall');
    await shot(admin, 'report-lifted');

    const other = await h.api('POST', '/api/releases', {
      title: 'Never sent',
      body: 'x',
      listIds: [list],
      embargo: { at: DateTime.now().plus({ hours: 3 }).toISO() },
    });
    await h.api('POST', `/api/releases/${other.json.id}/schedule`);
    await admin.goto(`${base}/console/releases/${other.json.id}`);
    await confirmIn('cancel', /Nothing will be sent/, 'study withdrawn');
    await expect.poll(status).toMatch(/cancelled/i);
    const audit = (await h.api('GET', `/api/releases/${draft.json.id}/audit`)).json.items;
    expect(audit.find((a: { action: string }) => a.action === 'lift')).toMatchObject({
      actor: 'account:press@example.org',
    });
    // The editor sent only what changed.
    expect(audit.find((a: { action: string }) => a.action === 'reschedule')).toMatchObject({
      details: { fields: ['embargo'] },
    });
  });

  it('refuses a state-changing request that carries the session cookie but no CSRF token', async () => {
    const csrf = (await admin.locator('meta[name="csrf-token"]').getAttribute('content'))!;
    const attempt = (withToken: boolean) =>
      admin.evaluate(
        async ({ withToken, token }) => {
          const response = await fetch('/api/lists', {
            method: 'POST',
            headers: { 'content-type': 'application/json', ...(withToken ? { 'x-csrf-token': token } : {}) },
            body: JSON.stringify({ name: 'Forged' }),
          });
          return { status: response.status, body: (await response.json()) as unknown };
        },
        { withToken, token: csrf },
      );
    const forged = await attempt(false);
    expect(forged).toMatchObject({ status: 403, body: { error: 'csrf_invalid' } });
    expect((await attempt(true)).status).toBe(201);
    // An HTML form post with the cookie but without the _csrf field is refused too.
    const form = await admin.request.post(`${base}/console/preview`, { form: { title: 'x', body: 'y' } });
    expect(form.status()).toBe(403);
    expect(await form.json()).toMatchObject({ error: 'csrf_invalid' });
  });

  it('keeps an editor out of operator and admin pages', async () => {
    const context = await browser.newContext();
    try {
      const editor = await context.newPage();
      await signIn(editor, 'writer@example.org');
      expect(await editor.locator('nav').innerText()).not.toContain('Accounts');
      const accounts = await editor.goto(`${base}/console/accounts`);
      expect(accounts!.status()).toBe(403);
      expect(await editor.locator('h1').innerText()).toBe('Not allowed');
      const missing = await editor.goto(`${base}/console/releases/999999`);
      expect(missing!.status()).toBe(404);
      expect(await editor.locator('h1').innerText()).toBe('Not found');
      await editor.goto(`${base}/console/releases`);
      const csrf = (await editor.locator('meta[name="csrf-token"]').getAttribute('content'))!;
      const calls = await editor.evaluate(async (token) => {
        const post = (url: string) =>
          fetch(url, {
            method: 'POST',
            headers: { 'x-csrf-token': token, 'content-type': 'application/json' },
            body: '{}',
          }).then(async (r) => ({ status: r.status, error: ((await r.json()) as { error: string }).error }));
        return {
          queues: await fetch('/admin/queues').then((r) => r.status),
          opsStatus: await fetch('/api/ops/status').then((r) => r.status),
          pause: await post('/api/ops/pause'),
          tokens: await post('/api/tokens'),
          accounts: await fetch('/api/accounts').then((r) => r.status),
        };
      }, csrf);
      // Refused for the role, not for a missing CSRF token.
      expect(calls).toEqual({
        queues: 403,
        opsStatus: 403,
        pause: { status: 403, error: 'forbidden' },
        tokens: { status: 403, error: 'forbidden' },
        accounts: 403,
      });
    } finally {
      await context.close();
    }
  });
});
