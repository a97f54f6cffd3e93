import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password.js';
import { createSetupToken } from '../../src/auth/setup-link.js';
import { createAccount } from '../../src/db/accounts.js';
import { LIMITS } from '../../src/auth/throttle.js';
import { consoleClient, PASSWORD } from '../support/console-client.js';
import { createHarness, type Harness } from '../support/harness.js';

let h: Harness;

beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const browserClient = (remoteAddress?: string) => consoleClient(h, remoteAddress);

describe('first start: the one-time setup link', () => {
  it('lets the first admin set a password once, refusing forged, expired and used links', async () => {
    const client = browserClient();
    expect((await client.request({ method: 'GET', url: '/console/setup?token=123.abc.forged' })).body).toContain(
      'not valid',
    );
    const expired = createSetupToken(h.ctx.keys, Date.now() - 25 * 3_600_000);
    expect((await client.request({ method: 'GET', url: `/console/setup?token=${expired}` })).body).toContain('expired');

    const token = createSetupToken(h.ctx.keys);
    const form = await client.request({ method: 'GET', url: `/console/setup?token=${token}` });
    expect(form.statusCode).toBe(200);
    const withoutCsrf = await client.request({
      method: 'POST',
      url: '/console/setup',
      payload: { token, email: 'boss@example.org', password: PASSWORD, confirm: PASSWORD },
    });
    expect(withoutCsrf.statusCode).toBe(403);
    const short = await client.request({
      method: 'POST',
      url: '/console/setup',
      payload: {
        _csrf: client.formToken(form.body),
        token,
        email: 'boss@example.org',
        password: 'short',
        confirm: 'short',
      },
    });
    expect(short.statusCode).toBe(400);
    expect(short.body).toContain('password: must be at least 10 characters');

    const created = await client.request({
      method: 'POST',
      url: '/console/setup',
      payload: {
        _csrf: client.formToken(form.body),
        token,
        email: 'boss@example.org',
        password: PASSWORD,
        confirm: PASSWORD,
      },
    });
    expect(created.statusCode).toBe(303);
    expect(created.headers.location).toBe('/console/releases');
    const cookie = String(created.headers['set-cookie'])
      .split(/,(?=\s*presslift)/)
      .find((c) => c.startsWith('presslift_session='))!;
    // The harness's PUBLIC_URL is https, so the cookie is Secure.
    expect(cookie).toMatch(/HttpOnly/);
    expect(cookie).toMatch(/SameSite=Strict/);
    expect(cookie).toMatch(/Secure/);
    expect(cookie).toMatch(/Expires=/);
    expect((await client.request({ method: 'GET', url: '/console/releases' })).statusCode).toBe(200);

    const again = await browserClient().request({ method: 'GET', url: `/console/setup?token=${token}` });
    expect(again.statusCode).toBe(410);
    expect(again.body).toContain('has been used');
    const audit = await h.ctx.db.selectFrom('audit').selectAll().where('action', '=', 'account.create').execute();
    expect(audit.map((a) => a.actor)).toEqual(['account:boss@example.org']);
  });
});

describe('sessions', () => {
  beforeAll(async () => {
    await createAccount(h.ctx.db, 'editor@example.org', 'editor', await hashPassword(PASSWORD));
  });

  it('signs in, requires the CSRF token for changes, names the account in the audit log, and signs out', async () => {
    const client = browserClient();
    expect((await client.signIn('editor@example.org', 'wrong password')).statusCode).toBe(401);
    const signedIn = await client.signIn('EDITOR@example.org');
    expect(signedIn.statusCode).toBe(303);
    expect((await client.request({ method: 'GET', url: '/api/lists' })).statusCode).toBe(200);

    const suppress = {
      method: 'POST' as const,
      url: '/api/suppressions',
      payload: { email: 'gone@example.org', reason: 'hard bounce' },
    };
    const forged = await client.request(suppress);
    expect(forged.statusCode).toBe(403);
    expect(forged.json()).toMatchObject({ error: 'csrf_invalid' });
    expect(await h.ctx.db.selectFrom('suppressions').selectAll().execute()).toEqual([]);

    const csrf = await client.pageToken();
    const done = await client.request({ ...suppress, headers: { 'x-csrf-token': csrf } });
    expect(done.statusCode).toBe(201);
    // The same token is in a script-readable cookie that axios-based pages (Bull Board) echo back.
    expect(client.jar.get('XSRF-TOKEN')).toBe(csrf);
    const viaAxiosHeader = await client.request({
      ...suppress,
      payload: { email: 'axios@example.org' },
      headers: { 'x-xsrf-token': csrf },
    });
    expect(viaAxiosHeader.statusCode).toBe(201);
    // A bearer token needs no CSRF token: nothing sends it implicitly.
    expect((await h.api('POST', '/api/suppressions', { email: 'also@example.org' })).status).toBe(201);
    const audit = await h.ctx.db
      .selectFrom('audit')
      .select(['actor', 'action'])
      .where('action', '=', 'suppress')
      .orderBy('id')
      .execute();
    expect(audit).toEqual([
      { actor: 'account:editor@example.org', action: 'suppress' },
      { actor: 'account:editor@example.org', action: 'suppress' },
      { actor: 'token:test-admin', action: 'suppress' },
    ]);

    const out = await client.request({ method: 'POST', url: '/console/logout', payload: { _csrf: csrf } });
    expect(out.statusCode).toBe(303);
    expect((await client.request({ method: 'GET', url: '/api/lists' })).statusCode).toBe(401);
  });

  it('ends an expired session and one whose account is disabled', async () => {
    const client = browserClient();
    await client.signIn('editor@example.org');
    expect((await client.request({ method: 'GET', url: '/console/lists' })).statusCode).toBe(200);
    await h.ctx.db
      .updateTable('sessions')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .execute();
    const page = await client.request({ method: 'GET', url: '/console/lists' });
    expect(page.statusCode).toBe(302);
    expect(page.headers.location).toBe('/console/login?next=%2Fconsole%2Flists');

    await client.signIn('editor@example.org');
    const id = (
      await h.ctx.db
        .selectFrom('accounts')
        .select('id')
        .where('email', '=', 'editor@example.org')
        .executeTakeFirstOrThrow()
    ).id;
    expect((await h.api('POST', `/api/accounts/${id}/disable`)).status).toBe(200);
    expect((await client.request({ method: 'GET', url: '/api/lists' })).statusCode).toBe(401);
    expect((await client.signIn('editor@example.org')).statusCode).toBe(401);
  });

  // Each wrong guess costs a full scrypt: give a loaded machine time.
  it('limits sign-in attempts from one address', { timeout: 120_000 }, async () => {
    const client = browserClient('203.0.113.7');
    const statuses: number[] = [];
    for (let i = 0; i <= LIMITS.signInPerAddress.max; i++)
      statuses.push((await client.signIn('nobody@example.org', 'guess')).statusCode);
    expect(statuses.slice(0, LIMITS.signInPerAddress.max).every((s) => s === 401)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    // Another address is not affected.
    expect((await browserClient('203.0.113.8').signIn('somebody@example.org', 'guess')).statusCode).toBe(401);
  });
});

describe('security headers', () => {
  it('allows scripts and styles only from the console itself, and sandboxes the email preview', async () => {
    const page = await h.app.inject({ method: 'GET', url: '/console/login' });
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("frame-ancestors 'self'");
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.headers['strict-transport-security']).toBeDefined();

    // Bull Board's bundled UI needs inline styles, and gets only that.
    const board = await h.app.inject({
      method: 'GET',
      url: '/admin/queues/manage/',
      headers: { authorization: `Bearer ${h.token}` },
    });
    expect(board.statusCode).toBe(200);
    expect(String(board.headers['content-security-policy'])).toContain("style-src 'self' 'unsafe-inline'; ");
    expect(String(board.headers['content-security-policy'])).toContain("script-src 'self'; ");

    const preview = await h.app.inject({
      method: 'POST',
      url: '/console/preview',
      headers: { authorization: `Bearer ${h.token}` },
      payload: {
        title: 'Preview <b>me</b>',
        body: 'Hello <script>alert(1)</script> **world**',
        local: '2030-10-18T00:01',
        timeZone: 'America/New_York',
      },
    });
    expect(preview.statusCode).toBe(200);
    expect(String(preview.headers['content-security-policy'])).toMatch(/sandbox$/);
    expect(preview.body).toContain('<strong>world</strong>');
    expect(preview.body).toContain('Preview &lt;b&gt;me');
    expect(preview.body).not.toContain('<b>me');
    expect(preview.body).toContain('18 October 2030');
    expect(preview.body).not.toContain('<script');
  });
});

describe('accounts, tokens and roles', () => {
  it('lets only admins manage accounts and tokens, and an issued token works once revoked never', async () => {
    const editor = await h.tokenFor('editor', 'cms');
    const asEditor = await h.app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: { authorization: `Bearer ${editor}` },
      payload: { name: 'x', role: 'admin' },
    });
    expect(asEditor.statusCode).toBe(403);

    const issued = await h.api('POST', '/api/tokens', { name: 'newsroom bot', role: 'operator' });
    expect(issued.status).toBe(201);
    expect(issued.json.token).toMatch(/^pl_/);
    const asBot = () =>
      h.app.inject({ method: 'GET', url: '/api/releases', headers: { authorization: `Bearer ${issued.json.token}` } });
    expect((await asBot()).statusCode).toBe(200);
    expect((await h.api('DELETE', `/api/tokens/${issued.json.id}`)).status).toBe(200);
    expect((await asBot()).statusCode).toBe(401);

    const duplicate = await h.api('POST', '/api/accounts', {
      email: 'Boss@example.org',
      role: 'editor',
      password: PASSWORD,
    });
    expect(duplicate).toMatchObject({ status: 409, json: { error: 'conflict' } });
    const bad = await h.api('POST', '/api/accounts', { email: 'new@example.org', role: 'chief', password: PASSWORD });
    expect(bad).toMatchObject({ status: 400, json: { details: { fields: [{ field: 'role' }] } } });
  });

  it('creates an account from the CLI, with the password from the environment', async () => {
    const { stdout } = await promisify(execFile)(
      'node',
      ['--import', 'tsx', 'src/cli.ts', 'user', 'create', '--email', 'ops@example.org', '--role', 'operator'],
      {
        env: { ...process.env, ...h.env, PRESSLIFT_PASSWORD: PASSWORD },
      },
    );
    expect(stdout).toMatch(/account \d+ \(operator\): ops@example.org/);
    const client = browserClient('198.51.100.9');
    expect((await client.signIn('ops@example.org')).statusCode).toBe(303);
  });
});
