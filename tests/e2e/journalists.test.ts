import { mkdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import type { AddressInfo } from 'node:net';
import ICAL from 'ical.js';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password.js';
import { createAccount } from '../../src/db/accounts.js';
import { chromiumPath, describeInBrowser, launchChromium } from '../support/browser.js';
import { createRelease, listWith } from '../support/fixtures.js';
import { createHarness, waitUntil, type Harness } from '../support/harness.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

const SHOTS = 'test-output/screenshots';
const PASSWORD = 'correct horse battery';
const PUBLIC_URL = 'http://localhost:3000';
const AXE_SOURCE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
/** WCAG 2 (2.0 and 2.1) levels A and AA. */
const WCAG_TAGS = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const WIDTHS = [375, 1280];

let h: Harness;
let smtp: TestSmtp;
let browser: Browser;
let base: string;
// Pages are checked with axe-core injected as a script, which the pages' own CSP would refuse.
let journalistContext: BrowserContext;
let staffContext: BrowserContext;
let journalist: Page;
let staff: Page;

/** The accessibility violations axe-core finds on the page, as "rule: target" lines (none is a pass). */
async function violations(page: Page): Promise<string[]> {
  await page.addScriptTag({ content: AXE_SOURCE });
  // A string: it runs in the page, where axe is defined.
  const result = (await page.evaluate(
    `axe.run(document, { runOnly: { type: 'tag', values: ${JSON.stringify(WCAG_TAGS)} } })`,
  )) as {
    violations: Array<{ id: string; nodes: Array<{ target: string[]; failureSummary?: string }> }>;
  };
  return result.violations.flatMap((v) =>
    v.nodes.map(
      (n) => `${v.id}: ${n.target.join(' ')} — ${(n.failureSummary ?? '').split('\n').slice(1, 2).join('').trim()}`,
    ),
  );
}

/** Screenshots of the whole page at phone and desktop widths, and axe at both. */
async function check(page: Page, name: string, widths = WIDTHS) {
  const original = page.viewportSize()!;
  const found: string[] = [];
  for (const width of widths) {
    await page.setViewportSize({ width, height: 800 });
    const height = Number(await page.evaluate('document.documentElement.scrollHeight'));
    await page.setViewportSize({ width, height: Math.max(800, Math.min(height, 6000)) });
    await page.screenshot({ path: `${SHOTS}/journalist-${name}-${width}.png` });
    found.push(...(await violations(page)).map((v) => `${name} @${width}: ${v}`));
  }
  await page.setViewportSize(original);
  expect(found).toEqual([]);
}

const local = (link: string) => link.replace(PUBLIC_URL, base);
const lastMailTo = (address: string) => smtp.messages.filter((m) => m.to[0] === address).at(-1);

beforeAll(async () => {
  if (!chromiumPath) return;
  mkdirSync(SHOTS, { recursive: true });
  smtp = await startSmtp();
  h = await createHarness({ SMTP_URL: smtp.url, PUBLIC_URL });
  await h.startWorkers();
  await createAccount(h.ctx.db, 'press@example.org', 'admin', await hashPassword(PASSWORD));
  await createAccount(h.ctx.db, 'desk@example.org', 'editor', await hashPassword(PASSWORD));
  await h.app.listen({ port: 0, host: '127.0.0.1' });
  base = `http://127.0.0.1:${(h.app.server.address() as AddressInfo).port}`;
  browser = await launchChromium();
  journalistContext = await browser.newContext({ bypassCSP: true, viewport: { width: 375, height: 800 } });
  staffContext = await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 800 } });
  journalist = await journalistContext.newPage();
  staff = await staffContext.newPage();
});

afterAll(async () => {
  await browser?.close();
  await h?.close();
  await smtp?.close();
});

async function signIn(page: Page, email: string) {
  await page.goto(`${base}/console/login`);
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(PASSWORD);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL(/\/console\/releases$/);
}

describeInBrowser('journalists and staff in a browser', () => {
  it('signs a journalist up, confirms, sets a zone, applies for advance copies; staff approve; the advance copy arrives in their zone with a calendar entry', async () => {
    const general = await listWith(h, 'Science desk', [{ email: 'ada@example.org', name: 'Ada Lovelace' }]);
    await h.api('PATCH', `/api/lists/${general}`, { public: true, description: 'Research news, about weekly' });
    const health = await listWith(h, 'Health desk', []);
    await h.api('PATCH', `/api/lists/${health}`, { public: true });
    const vetted = await listWith(h, 'Vetted reporters', []);
    const address = '이정민@example.kr';

    // Sign-up.
    await journalist.goto(`${base}/subscribe`);
    await check(journalist, 'subscribe');
    await journalist.getByLabel(/^Science desk/).check();
    await journalist.getByLabel('Name', { exact: true }).fill('이정민');
    await journalist.getByLabel('Outlet', { exact: true }).fill('한겨레 Hankyoreh');
    await journalist.getByLabel('Email', { exact: true }).fill(address);
    // A refusal names the field, and keeps what was typed.
    await journalist.getByRole('button', { name: 'Sign up' }).click();
    await expect.poll(() => journalist.locator('.form-error').innerText()).toContain('Consent: tick the box');
    expect(await journalist.getByLabel('Email', { exact: true }).inputValue()).toBe(address);
    await check(journalist, 'subscribe-refused');
    await journalist.getByLabel(/^I agree that/).check();
    await journalist.getByRole('button', { name: 'Sign up' }).click();
    await expect.poll(() => journalist.locator('h1').innerText()).toBe('Check your inbox');
    await check(journalist, 'check-inbox');

    // Confirmation from the mailbox.
    const confirmation = await waitUntil(async () => lastMailTo(address), 15_000, 'confirmation mail');
    const confirmLink = /http:\/\/localhost:3000\/subscribe\/confirm\/\S+/.exec(confirmation.mail.text!)![0];
    await journalist.goto(local(confirmLink));
    await check(journalist, 'confirm');
    await journalist.getByRole('button', { name: 'Confirm' }).click();
    await expect.poll(() => journalist.locator('h1').innerText()).toBe('You are subscribed');
    await check(journalist, 'subscribed');

    // Preferences: the zone, from the list of IANA zones.
    await journalist.getByRole('link', { name: 'Your preferences' }).click();
    await journalist.waitForURL(/\/preferences\//);
    const preferences = journalist.url();
    await journalist.getByLabel(/^Time zone/).selectOption('Asia/Seoul');
    await journalist.getByRole('button', { name: 'Save preferences' }).click();
    await expect.poll(() => journalist.locator('.notice').innerText()).toBe('Your preferences are saved.');
    expect(await journalist.getByLabel(/^Time zone/).inputValue()).toBe('Asia/Seoul');
    await check(journalist, 'preferences');

    // The application for advance copies.
    await journalist.getByLabel('Outlet', { exact: true }).fill('한겨레 Hankyoreh');
    await journalist.getByLabel('Your role').fill('Science correspondent');
    await journalist.getByLabel('Work address').fill('jm@hani.example');
    await journalist
      .getByLabel(/^Links to your published work/)
      .fill('https://hani.example/jm/1\nhttps://hani.example/jm/2');
    await journalist.getByLabel('I accept the embargo terms above').check();
    await journalist.getByRole('button', { name: 'Apply for advance copies' }).click();
    await expect
      .poll(() => journalist.locator('[data-access-status]').innerText())
      .toContain('Your application is with the press office');
    await check(journalist, 'applied');

    // Staff approve it in the console, onto the vetted list.
    await signIn(staff, 'desk@example.org');
    await staff.goto(`${base}/console/access-requests`);
    const card = staff.locator('[data-access-request]');
    await expect.poll(() => card.innerText()).toContain('Science correspondent, 한겨레 Hankyoreh');
    expect(await card.innerText()).toContain('https://hani.example/jm/2');
    // The console is for desks: checked at desktop width (all its pages again in the next test).
    await check(staff, 'console-access-requests', [1280]);
    await card.getByLabel('Vetted reporters').check();
    await card.getByLabel('Note to the applicant').fill('Welcome to the embargo list.');
    await card.getByRole('button', { name: 'Approve' }).click();
    await expect.poll(() => staff.locator('main').innerText()).toContain('No applications are waiting');
    const told = await waitUntil(
      async () =>
        lastMailTo(address)?.mail.subject === 'Advance copies: your application is accepted' && lastMailTo(address),
      15_000,
      'decision mail',
    );
    expect(told.mail.text).toContain('Welcome to the embargo list.');
    await journalist.goto(preferences);
    await expect
      .poll(() => journalist.locator('[data-access-status]').innerText())
      .toBe('You receive advance copies under embargo.');

    // The advance copy: the embargo in Seoul time and UTC, and the lift in the calendar.
    const embargoAt = new Date(Math.ceil((Date.now() + 8000) / 1000) * 1000);
    const release = await createRelease(h, [general], embargoAt, { advance: { listIds: [vetted], leadSeconds: 4 } });
    expect((await h.api('POST', `/api/releases/${release.id}/schedule`)).status).toBe(200);
    const copy = await waitUntil(
      async () => smtp.messages.find((m) => m.to[0] === address && m.mail.subject?.startsWith('EMBARGOED')),
      30_000,
      'advance copy',
    );
    expect(copy.startedAt).toBeGreaterThanOrEqual(embargoAt.getTime() - 4000);
    const seoul = embargoAt.toLocaleTimeString('en-GB', {
      timeZone: 'Asia/Seoul',
      hour: '2-digit',
      minute: '2-digit',
      hour12: false,
    });
    expect(copy.mail.subject).toContain(`UNTIL ${seoul}`);
    expect(copy.mail.subject).toContain(`(${embargoAt.toISOString().slice(11, 16)} UTC)`);
    const ics = copy.mail.attachments.find((a) => a.contentType === 'text/calendar')!;
    const calendar = new ICAL.Component(ICAL.parse(ics.content.toString('utf8')));
    expect(calendar.getFirstPropertyValue('method')).toBe('PUBLISH');
    const event = new ICAL.Event(calendar.getFirstSubcomponent('vevent')!);
    expect([event.startDate.zone?.tzid, event.startDate.toJSDate().toISOString()]).toEqual([
      'UTC',
      embargoAt.toISOString(),
    ]);
    expect(event.summary).toBe('Embargo lifts: Quantum sensor maps brain activity');

    // The public pages once lifted: the index, the release, the unsubscribe page.
    await waitUntil(
      async () => (await h.api('GET', `/api/releases/${release.id}`)).json.status === 'sent',
      30_000,
      'release sent',
    );
    await journalist.goto(`${base}/releases`);
    await check(journalist, 'newsroom');
    await journalist.getByRole('link', { name: 'Quantum sensor maps brain activity' }).click();
    await journalist.waitForURL(/\/releases\/[a-z0-9-]+$/);
    await check(journalist, 'release');
    const lift = smtp.messages.find((m) => m.to[0] === 'ada@example.org')!;
    await journalist.goto(local(/http:\/\/localhost:3000\/unsubscribe\/\S+/.exec(lift.mail.text!)![0]));
    await check(journalist, 'unsubscribe');
  }, 180_000);

  it('passes WCAG 2 A and AA on every console page', async () => {
    const admin = await (
      await browser.newContext({ bypassCSP: true, viewport: { width: 1280, height: 900 } })
    ).newPage();
    await signIn(admin, 'press@example.org');
    // A release that has been sent (its report) and a list with people, whatever ran before.
    const list = {
      id: await listWith(h, 'Console desk', [
        { email: 'grace@example.org', name: 'Grace Hopper' },
        { email: 'zoe@example.org', name: 'Zoë Müller' },
      ]),
    };
    // One full mailbox, so the report shows a failure.
    smtp.respond = (rcpt) => (rcpt === 'zoe@example.org' ? { code: 552, message: '5.2.2 mailbox full' } : undefined);
    const release = await createRelease(h, [list.id], new Date(Date.now() + 1000));
    await h.api('POST', `/api/releases/${release.id}/schedule`);
    await waitUntil(
      async () => (await h.api('GET', `/api/releases/${release.id}`)).json.status === 'sent',
      30_000,
      'release sent',
    );
    smtp.respond = undefined;
    // The releases list with every status: a draft, a scheduled one, a cancelled one.
    await createRelease(h, [list.id], new Date(Date.now() + 86_400_000));
    const later = await createRelease(h, [list.id], new Date(Date.now() + 86_400_000));
    await h.api('POST', `/api/releases/${later.id}/schedule`);
    const cancelled = await createRelease(h, [list.id], new Date(Date.now() + 86_400_000));
    await h.api('POST', `/api/releases/${cancelled.id}/schedule`);
    await h.api('POST', `/api/releases/${cancelled.id}/cancel`, { reason: 'withdrawn' });
    const pages = [
      'releases',
      `releases/${release.id}`,
      'releases/new',
      `releases/${release.id}/edit`,
      'lists',
      `lists/${list.id}`,
      'subscribers',
      'access-requests',
      'suppressions',
      'operations',
      'webhooks',
      'accounts',
      'account',
      `releases/${later.id}`,
      `releases/${cancelled.id}`,
    ];
    const found: string[] = [];
    for (const path of pages) {
      await admin.goto(`${base}/console/${path}`);
      await admin.waitForLoadState('load');
      found.push(...(await violations(admin)).map((v) => `/console/${path}: ${v}`));
    }
    await admin.setViewportSize({ width: 1280, height: 900 });
    await admin.goto(`${base}/console/subscribers`);
    await admin.screenshot({ path: `${SHOTS}/journalist-console-people-1280.png`, fullPage: true });
    expect(found).toEqual([]);
  }, 180_000);
});
