import { randomBytes, scryptSync } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password.js';
import { LIMITS } from '../../src/auth/throttle.js';
import { createAccount } from '../../src/db/accounts.js';
import { createSession } from '../../src/db/sessions.js';
import { consoleClient, PASSWORD } from '../support/console-client.js';
import { createHarness, type Harness } from '../support/harness.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

let h: Harness;
let smtp: TestSmtp;
let hash: string;

beforeAll(async () => {
  smtp = await startSmtp();
  h = await createHarness({ SMTP_URL: smtp.url });
  hash = await hashPassword(PASSWORD);
});
afterAll(async () => {
  await h?.close();
  await smtp?.close();
});

let addresses = 0;
/** Each client from its own address, so the per-address sign-in limit of one test never meets another's. */
const client = () => consoleClient(h, `198.51.100.${++addresses}`);
const newAccount = async (email: string, role: 'editor' | 'operator' | 'admin' = 'editor', passwordHash = hash) =>
  (await createAccount(h.ctx.db, email, role, passwordHash)).id;
const account = (id: number) =>
  h.ctx.db.selectFrom('accounts').selectAll().where('id', '=', id).executeTakeFirstOrThrow();
const sessionsOf = async (id: number) =>
  (await h.ctx.db.selectFrom('sessions').select('stage').where('account_id', '=', id).execute()).map((s) => s.stage);
const auditOf = async (email: string) =>
  await h.ctx.db
    .selectFrom('audit')
    .select(['action', 'details'])
    .where('actor', '=', `account:${email}`)
    .orderBy('id')
    .execute();
const totpOf = (secret: string) =>
  new TOTP({ algorithm: 'SHA1', digits: 6, period: 30, secret: Secret.fromBase32(secret) });
/** The next time step's code, later than any used so far (each code works once; one step of drift is allowed). */
const nextCode = (secret: string) => totpOf(secret).generate({ timestamp: Date.now() + 30_000 });
const secretOn = (body: string) => /data-totp-secret>([A-Z2-7 ]+)</.exec(body)![1]!.replace(/ /g, '');

/** Signs in and turns two-factor sign-in on from the account page; returns the secret and the recovery codes shown. */
async function enrol(c: ReturnType<typeof client>, email: string) {
  expect((await c.signIn(email)).statusCode).toBe(303);
  const started = await c.submit('/console/account', '/console/account/two-factor/start', {});
  expect(started.statusCode).toBe(200);
  expect(started.body).toContain('<svg');
  const secret = secretOn(started.body);
  const wrong = await c.request({
    method: 'POST',
    url: '/console/account/two-factor/confirm',
    payload: { _csrf: c.formToken(started.body), code: '000000' },
  });
  expect(wrong.statusCode).toBe(400);
  const used = totpOf(secret).generate();
  const confirmed = await c.request({
    method: 'POST',
    url: '/console/account/two-factor/confirm',
    payload: { _csrf: c.formToken(started.body), code: used },
  });
  expect(confirmed.statusCode).toBe(200);
  const codes = [...confirmed.body.matchAll(/<li><code>([a-z2-7-]+)<\/code><\/li>/g)].map((m) => m[1]!);
  return { secret, codes, used };
}

describe('two-factor sign-in', () => {
  it('is turned on from the account page with a QR code, then asked for at every sign-in, each code once', async () => {
    const id = await newAccount('totp@example.org');
    const { secret, codes, used } = await enrol(client(), 'totp@example.org');
    expect(codes).toHaveLength(10);
    const row = await account(id);
    expect([row.totp_secret, row.totp_pending_secret, row.totp_enabled_at !== null]).toEqual([secret, null, true]);
    const stored = await h.ctx.db
      .selectFrom('recovery_codes')
      .select('code_hash')
      .where('account_id', '=', id)
      .execute();
    expect(stored).toHaveLength(10);
    expect(stored.map((r) => r.code_hash)).not.toContain(codes[0]);

    const c = client();
    const password = await c.signIn('totp@example.org');
    expect(password.headers.location).toBe('/console/login/two-factor?next=%2Fconsole%2Freleases');
    // The password alone opens nothing.
    expect((await c.request({ method: 'GET', url: '/console/releases' })).statusCode).toBe(302);
    expect((await c.request({ method: 'GET', url: '/api/releases' })).statusCode).toBe(401);
    expect((await sessionsOf(id)).sort()).toEqual(['active', 'second-factor']); // the browser that enrolled, and this one
    const form = await c.request({ method: 'GET', url: '/console/login/two-factor' });
    const submit = (code: string) =>
      c.request({ method: 'POST', url: '/console/login/two-factor', payload: { _csrf: c.formToken(form.body), code } });
    expect((await submit('123456')).statusCode).toBe(401);
    // The code that confirmed the enrolment was used up there.
    expect((await submit(used)).statusCode).toBe(401);
    const inside = await submit(nextCode(secret));
    expect([inside.statusCode, inside.headers.location]).toEqual([303, '/console/releases']);
    expect((await c.request({ method: 'GET', url: '/console/releases' })).statusCode).toBe(200);
    expect((await sessionsOf(id)).sort()).toEqual(['active', 'active']);
    expect((await auditOf('totp@example.org')).map((a) => a.action)).toEqual([
      'sign-in',
      'two-factor.enable',
      'sign-in',
    ]);

    // A recovery code signs in once.
    const lost = client();
    await lost.signIn('totp@example.org');
    const page = await lost.request({ method: 'GET', url: '/console/login/two-factor' });
    const useCode = (code: string) =>
      lost.request({
        method: 'POST',
        url: '/console/login/two-factor',
        payload: { _csrf: lost.formToken(page.body), code },
      });
    expect((await useCode(codes[0]!.toUpperCase())).statusCode).toBe(303);
    const again = client();
    await again.signIn('totp@example.org');
    const page2 = await again.request({ method: 'GET', url: '/console/login/two-factor' });
    expect(
      (
        await again.request({
          method: 'POST',
          url: '/console/login/two-factor',
          payload: { _csrf: again.formToken(page2.body), code: codes[0]! },
        })
      ).statusCode,
    ).toBe(401);
    const spent = await h.ctx.db
      .selectFrom('recovery_codes')
      .select('used_at')
      .where('account_id', '=', id)
      .where('used_at', 'is not', null)
      .execute();
    expect(spent).toHaveLength(1);
  });

  it('with REQUIRE_2FA=admin, takes an admin without one to enrolment at sign-in and honours no older session', async () => {
    const strict = await createHarness({ REQUIRE_2FA: 'admin' });
    try {
      const adminId = (await createAccount(strict.ctx.db, 'chief@example.org', 'admin', hash)).id;
      await createAccount(strict.ctx.db, 'writer@example.org', 'editor', hash);
      // A session opened before, with the password alone, opens nothing now, nor after enrolment.
      const older = await createSession(strict.ctx.db, adminId, 60);
      const asOlder = () =>
        strict.app.inject({
          method: 'GET',
          url: '/api/accounts',
          headers: { cookie: `presslift_session=${older.token}` },
        });
      expect((await asOlder()).statusCode).toBe(401);
      const c = consoleClient(strict, '192.0.2.10');
      const signed = await c.signIn('chief@example.org');
      expect(signed.headers.location).toBe('/console/login/two-factor?next=%2Fconsole%2Freleases');
      expect((await c.request({ method: 'GET', url: '/console/accounts' })).statusCode).toBe(302);
      const enrolPage = await c.request({ method: 'GET', url: '/console/login/two-factor' });
      expect(enrolPage.body).toContain('Set up two-factor sign-in');
      expect(enrolPage.body).toContain('<svg');
      const secret = secretOn(enrolPage.body);
      const done = await c.request({
        method: 'POST',
        url: '/console/login/two-factor',
        payload: { _csrf: c.formToken(enrolPage.body), code: totpOf(secret).generate() },
      });
      expect(done.statusCode).toBe(200);
      expect([...done.body.matchAll(/<li><code>/g)]).toHaveLength(10);
      expect((await c.request({ method: 'GET', url: '/console/accounts' })).statusCode).toBe(200);
      expect((await asOlder()).statusCode).toBe(401);
      expect(
        (await strict.ctx.db.selectFrom('sessions').select('stage').where('account_id', '=', adminId).execute()).map(
          (s) => s.stage,
        ),
      ).toEqual(['active']);
      // It cannot be turned off while the role requires it.
      const off = await c.submit('/console/account', '/console/account/two-factor/disable', { password: PASSWORD });
      expect(off.statusCode).toBe(409);
      expect(
        (
          await strict.ctx.db
            .selectFrom('accounts')
            .select('totp_enabled_at')
            .where('id', '=', adminId)
            .executeTakeFirstOrThrow()
        ).totp_enabled_at,
      ).not.toBeNull();
      // Editors are not asked.
      expect((await consoleClient(strict, '192.0.2.11').signIn('writer@example.org')).headers.location).toBe(
        '/console/releases',
      );
    } finally {
      await strict.close();
    }
  });
});

describe('passwords', () => {
  it('change: needs the current one, signs out every other session, keeps this browser signed in', async () => {
    const id = await newAccount('changer@example.org');
    const [a, b] = [client(), client()];
    await a.signIn('changer@example.org');
    await b.signIn('changer@example.org');
    const wrong = await a.submit('/console/account', '/console/account/password', {
      current: 'not it at all',
      password: 'a brand new password',
      confirm: 'a brand new password',
    });
    expect(wrong.statusCode).toBe(401);
    const changed = await a.submit('/console/account', '/console/account/password', {
      current: PASSWORD,
      password: 'a brand new password',
      confirm: 'a brand new password',
    });
    expect(changed.statusCode).toBe(200);
    expect(changed.body).toContain('Your password is changed');
    expect((await b.request({ method: 'GET', url: '/api/releases' })).statusCode).toBe(401);
    expect((await a.request({ method: 'GET', url: '/api/releases' })).statusCode).toBe(200);
    expect(await sessionsOf(id)).toEqual(['active']);
    expect((await client().signIn('changer@example.org')).statusCode).toBe(401);
    expect((await client().signIn('changer@example.org', 'a brand new password')).statusCode).toBe(303);
    expect((await account(id)).password_changed_at).not.toBeNull();
  });

  it("reset: a one-time link by email through Presslift's own mail path, that ends every session", async () => {
    const id = await newAccount('forgetful@example.org');
    const signedIn = client();
    await signedIn.signIn('forgetful@example.org');
    smtp.messages.length = 0;
    const c = client();
    const asked = await c.submit('/console/reset', '/console/reset', { email: 'Forgetful@example.org' });
    expect(asked.statusCode).toBe(200);
    const unknown = await c.submit('/console/reset', '/console/reset', { email: 'nobody-here@example.org' });
    // The same answer for an address without an account: the form tells nobody who works here.
    expect(unknown.body.replace(/nobody-here@example\.org/, 'X')).toBe(
      asked.body.replace(/Forgetful@example\.org/, 'X'),
    );
    const [mail] = await smtp.waitFor(1);
    expect(mail!.to).toEqual(['forgetful@example.org']);
    const link = /https:\/\/news\.example\.org(\/console\/reset\/[A-Za-z0-9_-]+)/.exec(mail!.mail.text!)![1]!;
    const form = await c.request({ method: 'GET', url: link });
    expect(form.statusCode).toBe(200);
    expect(form.headers['referrer-policy']).toBe('no-referrer');
    const mismatch = await c.request({
      method: 'POST',
      url: link,
      payload: { _csrf: c.formToken(form.body), password: 'reset password one', confirm: 'something else' },
    });
    expect(mismatch.statusCode).toBe(400);
    const done = await c.request({
      method: 'POST',
      url: link,
      payload: { _csrf: c.formToken(form.body), password: 'reset password one', confirm: 'reset password one' },
    });
    expect(done.statusCode).toBe(200);
    expect(await sessionsOf(id)).toEqual([]);
    expect((await signedIn.request({ method: 'GET', url: '/api/releases' })).statusCode).toBe(401);
    expect((await c.request({ method: 'GET', url: link })).statusCode).toBe(410);
    expect((await client().signIn('forgetful@example.org', 'reset password one')).statusCode).toBe(303);
    const resets = await h.ctx.db
      .selectFrom('password_resets')
      .select(['used_at', 'token_hash'])
      .where('account_id', '=', id)
      .execute();
    expect(resets).toHaveLength(1);
    expect(resets[0]!.used_at).not.toBeNull();
    expect(link).not.toContain(resets[0]!.token_hash);
    expect(smtp.messages).toHaveLength(1);
  });

  it('are rehashed at the next sign-in when they were hashed at the old cost', async () => {
    const salt = randomBytes(16);
    const legacy = [
      'scrypt',
      16384,
      8,
      1,
      salt.toString('base64url'),
      scryptSync(PASSWORD.normalize('NFKC'), salt, 32, { N: 16384, r: 8, p: 1 }).toString('base64url'),
    ].join('$');
    const id = await newAccount('old-hash@example.org', 'editor', legacy);
    expect((await client().signIn('old-hash@example.org')).statusCode).toBe(303);
    const upgraded = (await account(id)).password_hash;
    expect(upgraded).toMatch(/^scrypt\$131072\$8\$1\$/);
    expect((await client().signIn('old-hash@example.org')).statusCode).toBe(303);
    expect((await account(id)).password_hash).toBe(upgraded);
  });
});

describe('sessions and accounts', () => {
  it('signs out everywhere at once', async () => {
    const id = await newAccount('everywhere@example.org');
    const [a, b] = [client(), client()];
    await a.signIn('everywhere@example.org');
    await b.signIn('everywhere@example.org');
    const out = await a.submit('/console/account', '/console/account/sign-out-everywhere', {});
    expect([out.statusCode, out.headers.location]).toEqual([303, '/console/login']);
    for (const c of [a, b]) expect((await c.request({ method: 'GET', url: '/api/releases' })).statusCode).toBe(401);
    expect(await sessionsOf(id)).toEqual([]);
  });

  it('re-enables a disabled account, whose revoked tokens stay revoked', async () => {
    const id = await newAccount('returning@example.org', 'admin');
    const c = client();
    await c.signIn('returning@example.org');
    const issued = await c.request({
      method: 'POST',
      url: '/api/tokens',
      headers: { 'x-csrf-token': await c.pageToken() },
      payload: { name: 'their bot', role: 'editor' },
    });
    expect(issued.statusCode).toBe(201);
    expect((await h.api('POST', `/api/accounts/${id}/disable`)).json).toMatchObject({
      disabled: true,
      tokensRevoked: 1,
    });
    expect((await client().signIn('returning@example.org')).statusCode).toBe(401);
    expect((await h.api('POST', `/api/accounts/${id}/enable`)).status).toBe(200);
    expect((await h.api('POST', `/api/accounts/${id}/enable`)).status).toBe(404);
    expect((await client().signIn('returning@example.org')).statusCode).toBe(303);
    const bot = await h.app.inject({
      method: 'GET',
      url: '/api/lists',
      headers: { authorization: `Bearer ${issued.json().token}` },
    });
    expect(bot.statusCode).toBe(401);
    const actions = (
      await h.ctx.db
        .selectFrom('audit')
        .select('action')
        .where('actor', '=', 'token:test-admin')
        .orderBy('id')
        .execute()
    ).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(['account.disable', 'account.enable']));
  });
});

describe('sign-in throttling', () => {
  // Each wrong guess costs a full scrypt: give a loaded machine time.
  it('stops guessing one account from many addresses, even with the right password', { timeout: 120_000 }, async () => {
    await newAccount('target@example.org');
    for (let i = 0; i < LIMITS.signInFailuresPerAccount.max; i++) {
      expect((await client().signIn('target@example.org', `guess number ${i}`)).statusCode).toBe(401);
    }
    const right = await client().signIn('target@example.org');
    expect(right.statusCode).toBe(429);
    expect(right.body).toContain('Too many attempts');
    // Other accounts sign in as usual.
    await newAccount('bystander@example.org');
    expect((await client().signIn('bystander@example.org')).statusCode).toBe(303);
  });

  it('reads the client address from X-Forwarded-For only when TRUST_PROXY says to', async () => {
    // An address that has used up its attempts (console-auth.test.ts spends them one by one).
    const usedUp = (db: Harness['ctx']['db'], address: string) =>
      db
        .insertInto('rate_counters')
        .values({ key: `sign-in:address:${address}`, window_start: new Date(), hits: LIMITS.signInPerAddress.max })
        .execute();
    const attempt = async (target: Harness, remoteAddress: string, forwardedFor: string) => {
      const c = consoleClient(target, remoteAddress);
      const page = await c.request({ method: 'GET', url: '/console/login' });
      return (
        await c.request({
          method: 'POST',
          url: '/console/login',
          headers: { 'x-forwarded-for': forwardedFor },
          payload: { email: 'proxied@example.org', password: 'wrong', _csrf: c.formToken(page.body) },
        })
      ).statusCode;
    };
    // Without TRUST_PROXY, a forged header does not give an attacker a fresh address.
    await usedUp(h.ctx.db, '203.0.113.99');
    expect(await attempt(h, '203.0.113.99', '10.0.0.1')).toBe(429);

    const behindProxy = await createHarness({ TRUST_PROXY: '127.0.0.1' });
    try {
      await usedUp(behindProxy.ctx.db, '198.18.0.1');
      // Behind the load balancer, the client it names is counted, and another client is another address.
      expect(await attempt(behindProxy, '127.0.0.1', '198.18.0.1')).toBe(429);
      expect(await attempt(behindProxy, '127.0.0.1', '198.18.0.2')).toBe(401);
      const keys = (
        await behindProxy.ctx.db
          .selectFrom('rate_counters')
          .select('key')
          .where('key', 'like', 'sign-in:address:%')
          .execute()
      )
        .map((r) => r.key)
        .sort();
      expect(keys).toEqual(['sign-in:address:198.18.0.1', 'sign-in:address:198.18.0.2']);
      // A request from elsewhere cannot claim to be forwarded.
      expect(await attempt(behindProxy, '192.0.2.77', '198.18.0.3')).toBe(401);
      expect(
        await behindProxy.ctx.db
          .selectFrom('rate_counters')
          .select('key')
          .where('key', '=', 'sign-in:address:192.0.2.77')
          .execute(),
      ).toHaveLength(1);
    } finally {
      await behindProxy.close();
    }
  });
});
