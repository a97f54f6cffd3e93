import { z } from 'zod';
import { ROLES } from '../states.js';
import { hashPassword, MIN_PASSWORD_LENGTH } from '../auth/password.js';
import type { Db } from '../db/index.js';
import { AccountExistsError, createAccount, disableAccount, enableAccount, listAccounts } from '../db/accounts.js';
import { recordAudit } from '../db/audit.js';
import { disableTotp } from '../db/second-factor.js';
import { createApiToken, listApiTokens, revokeApiToken } from '../db/tokens.js';
import { emailAddress, lineText } from '../fields.js';
import { HttpError, notFound } from './errors.js';
import { idParams, type ApiPlugin } from './plugin.js';

const role = z.enum(ROLES, { error: 'must be editor, operator or admin' });
const newAccount = z.object({
  email: emailAddress,
  role,
  password: z.string().min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`).max(1000),
});
const newToken = z.object({
  name: lineText(120),
  role,
  /** Days until it stops working; left out (or empty), it works until revoked. */
  expiresInDays: z.preprocess(
    (v) => (v === '' || v === null ? undefined : v),
    z.coerce
      .number()
      .int('must be a whole number of days')
      .min(1, 'must be at least 1')
      .max(3650, 'must be at most 3650')
      .optional(),
  ),
});

const tokenView = (t: Awaited<ReturnType<typeof listApiTokens>>[number]) => ({
  id: t.id,
  name: t.name,
  role: t.role,
  owner: t.owner,
  createdBy: t.createdBy,
  createdAt: t.createdAt.toISOString(),
  expiresAt: t.expiresAt?.toISOString() ?? null,
  lastUsedAt: t.lastUsedAt?.toISOString() ?? null,
  revokedAt: t.revokedAt?.toISOString() ?? null,
});

const roleOut = z.enum(['editor', 'operator', 'admin']);
const account = z.object({
  id: z.number(),
  email: z.string(),
  role: roleOut,
  createdAt: z.string(),
  lastLoginAt: z.string().nullable(),
  disabled: z.boolean(),
  twoFactor: z.boolean(),
});
const token = z.object({
  id: z.number(),
  name: z.string(),
  role: roleOut,
  owner: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  expiresAt: z.string().nullable(),
  lastUsedAt: z.string().nullable(),
  revokedAt: z.string().nullable(),
});
const idOnly = { id: z.number() };

const auditWith = (db: Db) => (actor: string, action: string, details: Record<string, unknown>) =>
  recordAudit(db, { releaseId: null, actor, action, details });

/** Staff accounts under /api/accounts: admin only (src/api/access.ts), and every change is in the audit log. */
export const accountRoutes: ApiPlugin = async (app, { ctx }) => {
  const { db } = ctx;
  const audit = auditWith(db);

  app.get('', { schema: { response: { 200: z.object({ items: z.array(account) }) } } }, async () => ({
    items: await listAccounts(db),
  }));

  const created = z.object({ ...idOnly, email: z.string(), role: roleOut });
  app.post('', { schema: { body: newAccount, response: { 201: created } } }, async (request, reply) => {
    const input = request.body;
    try {
      const { id } = await createAccount(db, input.email, input.role, await hashPassword(input.password));
      await audit(request.actor.label, 'account.create', { id, email: input.email, role: input.role });
      reply.status(201);
      return { id, email: input.email, role: input.role };
    } catch (error) {
      if (error instanceof AccountExistsError)
        throw new HttpError(409, 'conflict', `email: ${error.message}`, { field: 'email' });
      throw error;
    }
  });

  /** Ends the account's sessions and revokes the tokens its authority created, at once. */
  const disabledAnswer = z.object({ ...idOnly, disabled: z.literal(true), tokensRevoked: z.number() });
  app.post('/:id/disable', { schema: { params: idParams, response: { 200: disabledAnswer } } }, async (request) => {
    const { id } = request.params;
    if (id === request.actor.accountId)
      throw new HttpError(400, 'invalid_input', 'id: you cannot disable your own account', { field: 'id' });
    const disabled = await disableAccount(db, id);
    if (!disabled) throw notFound(`active account ${id}`);
    await audit(request.actor.label, 'account.disable', {
      id,
      email: disabled.email,
      tokensRevoked: disabled.tokensRevoked,
    });
    return { id, disabled: true as const, tokensRevoked: disabled.tokensRevoked };
  });

  /** Lets the person sign in again; the tokens revoked when it was disabled stay revoked. */
  app.post(
    '/:id/enable',
    { schema: { params: idParams, response: { 200: z.object({ ...idOnly, disabled: z.literal(false) }) } } },
    async (request) => {
      const { id } = request.params;
      const email = await enableAccount(db, id);
      if (!email) throw notFound(`disabled account ${id}`);
      await audit(request.actor.label, 'account.enable', { id, email });
      return { id, disabled: false as const };
    },
  );

  /**
   * For a person who lost their authenticator and their recovery codes: they enrol again at their next sign-in if
   * REQUIRE_2FA asks.
   */
  app.delete(
    '/:id/two-factor',
    { schema: { params: idParams, response: { 200: z.object({ ...idOnly, twoFactor: z.literal(false) }) } } },
    async (request) => {
      const { id } = request.params;
      if (!(await disableTotp(db, id))) throw notFound(`account ${id} with a second factor`);
      await audit(request.actor.label, 'account.two-factor-reset', { id });
      return { id, twoFactor: false as const };
    },
  );
};

/** API tokens under /api/tokens: admin only, every change audited. */
export const tokenRoutes: ApiPlugin = async (app, { ctx }) => {
  const { db } = ctx;
  const audit = auditWith(db);

  app.get('', { schema: { response: { 200: z.object({ items: z.array(token) }) } } }, async () => ({
    items: (await listApiTokens(db)).map(tokenView),
  }));

  const issued = z.object({
    ...idOnly,
    name: z.string(),
    role: roleOut,
    expiresAt: z.string().nullable(),
    token: z.string().describe('shown this once: only its hash is kept'),
  });
  app.post('', { schema: { body: newToken, response: { 201: issued } } }, async (request, reply) => {
    const input = request.body;
    const expiresAt = input.expiresInDays ? new Date(Date.now() + input.expiresInDays * 86_400_000) : null;
    // The new token answers to the same account as the credential that made it.
    const created = await createApiToken(db, {
      name: input.name,
      role: input.role,
      ownerAccountId: request.actor.accountId ?? null,
      createdBy: request.actor.label,
      expiresAt,
    });
    await audit(request.actor.label, 'token.create', {
      id: created.id,
      name: input.name,
      role: input.role,
      expiresAt: expiresAt?.toISOString() ?? null,
    });
    reply.status(201);
    // The only time the token is shown: only its hash is kept.
    return {
      id: created.id,
      name: input.name,
      role: input.role,
      expiresAt: expiresAt?.toISOString() ?? null,
      token: created.token,
    };
  });

  app.delete(
    '/:id',
    { schema: { params: idParams, response: { 200: z.object({ ...idOnly, revoked: z.literal(true) }) } } },
    async (request) => {
      const { id } = request.params;
      if (!(await revokeApiToken(db, id))) throw notFound(`active token ${id}`);
      await audit(request.actor.label, 'token.revoke', { id });
      return { id, revoked: true as const };
    },
  );
};
