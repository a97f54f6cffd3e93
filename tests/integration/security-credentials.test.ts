import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { hashPassword } from '../../src/auth/password.js';
import { createSetupToken } from '../../src/auth/setup-link.js';
import { loadConfig } from '../../src/config.js';
import { createContext } from '../../src/context.js';
import { createAccount } from '../../src/db/accounts.js';
import { createSession } from '../../src/db/sessions.js';
import { createLogger } from '../../src/log.js';
import { signUnsubscribeToken, verifyUnsubscribeToken } from '../../src/mail/unsubscribe-token.js';
import { bootstrapToken } from '../../src/processes.js';
import { randomToken } from '../../src/signing.js';
import { listWith } from '../support/fixtures.js';
import { consoleClient, PASSWORD } from '../support/console-client.js';
import { createHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

const bearer = (token: string, url = '/api/lists') =>
  h.app.inject({ method: 'GET', url, headers: { authorization: `Bearer ${token}` } });
const tokenRow = (id: number) =>
  h.ctx.db.selectFrom('api_tokens').selectAll().where('id', '=', id).executeTakeFirstOrThrow();

describe('API tokens', () => {
  it("answer to the account that created them, and die with it; the CLI's do not", async () => {
    const ownerId = (await createAccount(h.ctx.db, 'owner@example.org', 'admin', await hashPassword(PASSWORD))).id;
    const session = await createSession(h.ctx.db, ownerId, 60);
    const asOwner = { cookie: `presslift_session=${session.token}`, 'x-csrf-token': session.csrfToken };
    const first = await h.app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: asOwner,
      payload: { name: 'deploy bot', role: 'admin', expiresInDays: 30 },
    });
    expect(first.statusCode).toBe(201);
    // A token made by that token answers to the same account.
    const second = await h.app.inject({
      method: 'POST',
      url: '/api/tokens',
      headers: { authorization: `Bearer ${first.json().token}` },
      payload: { name: 'child bot', role: 'editor' },
    });
    expect(second.statusCode).toBe(201);
    const fromShell = await h.tokenFor('editor', 'shell bot');

    const [a, b] = [await tokenRow(first.json().id), await tokenRow(second.json().id)];
    expect([a.owner_account_id, a.created_by, a.role]).toEqual([ownerId, 'account:owner@example.org', 'admin']);
    expect([b.owner_account_id, b.created_by, b.role, b.expires_at]).toEqual([
      ownerId,
      'token:deploy bot',
      'editor',
      null,
    ]);
    expect(a.expires_at!.getTime()).toBeGreaterThan(Date.now() + 29 * 86_400_000);
    expect((await bearer(second.json().token)).statusCode).toBe(200);
    expect((await tokenRow(second.json().id)).last_used_at).not.toBeNull();
    const listed = (await h.api('GET', '/api/tokens')).json.items.find((t: { id: number }) => t.id === first.json().id);
    expect(listed).toMatchObject({ name: 'deploy bot', role: 'admin', owner: 'owner@example.org', revokedAt: null });
    expect(JSON.stringify((await h.api('GET', '/api/tokens')).json)).not.toContain(first.json().token);

    const disabled = await h.api('POST', `/api/accounts/${ownerId}/disable`);
    expect(disabled.json).toMatchObject({ disabled: true, tokensRevoked: 2 });
    for (const token of [first.json().token, second.json().token]) expect((await bearer(token)).statusCode).toBe(401);
    expect((await tokenRow(first.json().id)).revoked_at).not.toBeNull();
    expect((await tokenRow(second.json().id)).revoked_at).not.toBeNull();
    expect((await bearer(fromShell)).statusCode).toBe(200);
  });

  it('stop working when they expire', async () => {
    const made = await h.api('POST', '/api/tokens', { name: 'short-lived', role: 'editor', expiresInDays: 1 });
    expect((await bearer(made.json.token)).statusCode).toBe(200);
    await h.ctx.db
      .updateTable('api_tokens')
      .set({ expires_at: new Date(Date.now() - 1000) })
      .where('id', '=', made.json.id)
      .execute();
    expect((await bearer(made.json.token)).statusCode).toBe(401);
    expect(
      (await h.api('POST', '/api/tokens', { name: 'x', role: 'editor', expiresInDays: 0 })).json.details.fields[0]
        .field,
    ).toBe('expiresInDays');
  });

  it('the first-start token works until a console admin exists, then never again', async () => {
    const fresh = await createHarness();
    try {
      // A fresh installation: no token, no account.
      await fresh.ctx.db.deleteFrom('api_tokens').execute();
      const bootstrap = (await bootstrapToken(fresh.ctx))!;
      expect(await bootstrapToken(fresh.ctx)).toBeNull();
      const call = () =>
        fresh.app.inject({
          method: 'GET',
          url: '/api/accounts',
          headers: { authorization: `Bearer ${bootstrap.token}` },
        });
      expect((await call()).statusCode).toBe(200);
      const c = consoleClient(fresh);
      const token = createSetupToken(fresh.ctx.keys);
      const created = await c.submit(`/console/setup?token=${token}`, '/console/setup', {
        token,
        email: 'first@example.org',
        password: PASSWORD,
        confirm: PASSWORD,
      });
      expect(created.statusCode).toBe(303);
      expect((await call()).statusCode).toBe(401);
      const row = await fresh.ctx.db
        .selectFrom('api_tokens')
        .select(['revoked_at', 'bootstrap'])
        .where('id', '=', bootstrap.id)
        .executeTakeFirstOrThrow();
      expect(row.bootstrap).toBe(true);
      expect(row.revoked_at).not.toBeNull();
      // Disabling every admin later does not bring it back.
      await fresh.ctx.db.updateTable('accounts').set({ disabled_at: new Date() }).execute();
      expect((await call()).statusCode).toBe(401);
    } finally {
      await fresh.close();
    }
  });
});

describe('the signing key', () => {
  it('rotates: links signed with the previous key keep working while it is listed, and stop once it is removed', async () => {
    const list = await listWith(h, 'Rotation', [{ email: 'rotate@example.org' }]);
    const subscriber = (
      await h.ctx.db
        .selectFrom('subscribers')
        .select('id')
        .where('email_key', '=', 'rotate@example.org')
        .executeTakeFirstOrThrow()
    ).id;
    const [oldKey, newKey] = [randomToken(), randomToken()];
    const contextWith = (env: Record<string, string>) =>
      createContext(loadConfig({ ...h.env, ...env }), createLogger('silent'));

    const before = await contextWith({ SECRET_KEY: oldKey });
    const during = await contextWith({ SECRET_KEY: newKey, SECRET_KEYS_PREVIOUS: oldKey });
    const after = await contextWith({ SECRET_KEY: newKey });
    try {
      const oldLink = signUnsubscribeToken(before.keys, subscriber, list);
      const newLink = signUnsubscribeToken(during.keys, subscriber, list);
      expect(newLink).not.toBe(oldLink);
      expect(verifyUnsubscribeToken(during.keys, oldLink)).toEqual({ subscriberId: subscriber, listId: list });
      expect(verifyUnsubscribeToken(during.keys, newLink)).toEqual({ subscriberId: subscriber, listId: list });
      expect(verifyUnsubscribeToken(after.keys, oldLink)).toBeNull();
      expect(verifyUnsubscribeToken(after.keys, newLink)).toEqual({ subscriberId: subscriber, listId: list });
      // A key generated before SECRET_KEY was set keeps verifying what it signed.
      expect(verifyUnsubscribeToken(after.keys, signUnsubscribeToken(h.ctx.keys, subscriber, list))).not.toBeNull();
    } finally {
      for (const ctx of [before, during, after]) await ctx.close();
    }
  });

  it('refuses a key that is public, as the signing key or a previous one', () => {
    for (const env of [
      { SECRET_KEY: 'change-me-to-a-long-random-string-of-32-chars' },
      {
        SECRET_KEY: randomToken(),
        SECRET_KEYS_PREVIOUS: `${randomToken()},CHANGE-ME-TO-A-LONG-RANDOM-STRING-OF-32-CHARS`,
      },
    ]) {
      expect(() => loadConfig(env)).toThrow(/this key is public/);
    }
    expect(() => loadConfig({ SECRET_KEYS_PREVIOUS: 'short' })).toThrow(/SECRET_KEYS_PREVIOUS/);
  });
});
