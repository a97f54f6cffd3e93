import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { ROLES } from '../states';
import { hashPassword, MIN_PASSWORD_LENGTH } from '../auth/password';
import type { Context } from '../context';
import { AccountExistsError, createAccount, disableAccount, enableAccount, listAccounts } from '../db/accounts';
import { recordAudit } from '../db/audit';
import { disableTotp } from '../db/second-factor';
import { createApiToken, listApiTokens, revokeApiToken } from '../db/tokens';
import { emailAddress, idParam, lineText } from '../fields';
import { HttpError, notFound, parse } from './errors';

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
  expiresInDays: z.preprocess((v) => (v === '' || v === null ? undefined : v), z.coerce.number().int('must be a whole number of days').min(1, 'must be at least 1').max(3650, 'must be at most 3650').optional()),
});
const idParams = z.object({ id: idParam });

const tokenView = (t: Awaited<ReturnType<typeof listApiTokens>>[number]) => ({
  id: t.id, name: t.name, role: t.role, owner: t.owner, createdBy: t.createdBy, createdAt: t.createdAt.toISOString(),
  expiresAt: t.expiresAt?.toISOString() ?? null, lastUsedAt: t.lastUsedAt?.toISOString() ?? null, revokedAt: t.revokedAt?.toISOString() ?? null,
});

/** Staff accounts and API tokens: admin only (src/api/access.ts), and every change is in the audit log. */
export function accountRoutes(app: FastifyInstance, ctx: Context) {
  const { db } = ctx;
  const audit = (actor: string, action: string, details: Record<string, unknown>) => recordAudit(db, { releaseId: null, actor, action, details });

  app.get('/api/accounts', async () => ({ items: await listAccounts(db) }));

  app.post('/api/accounts', async (request, reply) => {
    const input = parse(newAccount, request.body);
    try {
      const { id } = await createAccount(db, input.email, input.role, await hashPassword(input.password));
      await audit(request.actor.label, 'account.create', { id, email: input.email, role: input.role });
      reply.status(201);
      return { id, email: input.email, role: input.role };
    } catch (error) {
      if (error instanceof AccountExistsError) throw new HttpError(409, 'conflict', `email: ${error.message}`, { field: 'email' });
      throw error;
    }
  });

  /** Ends the account's sessions and revokes the tokens its authority created, at once. */
  app.post('/api/accounts/:id/disable', async (request) => {
    const { id } = parse(idParams, request.params, 'id');
    if (id === request.actor.accountId) throw new HttpError(400, 'invalid_input', 'id: you cannot disable your own account', { field: 'id' });
    const disabled = await disableAccount(db, id);
    if (!disabled) throw notFound(`active account ${id}`);
    await audit(request.actor.label, 'account.disable', { id, email: disabled.email, tokensRevoked: disabled.tokensRevoked });
    return { id, disabled: true, tokensRevoked: disabled.tokensRevoked };
  });

  /** Lets the person sign in again; the tokens revoked when it was disabled stay revoked. */
  app.post('/api/accounts/:id/enable', async (request) => {
    const { id } = parse(idParams, request.params, 'id');
    const email = await enableAccount(db, id);
    if (!email) throw notFound(`disabled account ${id}`);
    await audit(request.actor.label, 'account.enable', { id, email });
    return { id, disabled: false };
  });

  /** For a person who lost their authenticator and their recovery codes: they enrol again at their next sign-in if REQUIRE_2FA asks. */
  app.delete('/api/accounts/:id/two-factor', async (request) => {
    const { id } = parse(idParams, request.params, 'id');
    if (!(await disableTotp(db, id))) throw notFound(`account ${id} with a second factor`);
    await audit(request.actor.label, 'account.two-factor-reset', { id });
    return { id, twoFactor: false };
  });

  app.get('/api/tokens', async () => ({ items: (await listApiTokens(db)).map(tokenView) }));

  app.post('/api/tokens', async (request, reply) => {
    const input = parse(newToken, request.body);
    const expiresAt = input.expiresInDays ? new Date(Date.now() + input.expiresInDays * 86_400_000) : null;
    // The new token answers to the same account as the credential that made it.
    const created = await createApiToken(db, { name: input.name, role: input.role, ownerAccountId: request.actor.accountId ?? null, createdBy: request.actor.label, expiresAt });
    await audit(request.actor.label, 'token.create', { id: created.id, name: input.name, role: input.role, expiresAt: expiresAt?.toISOString() ?? null });
    reply.status(201);
    // The only time the token is shown: only its hash is kept.
    return { id: created.id, name: input.name, role: input.role, expiresAt: expiresAt?.toISOString() ?? null, token: created.token };
  });

  app.delete('/api/tokens/:id', async (request) => {
    const { id } = parse(idParams, request.params, 'id');
    if (!(await revokeApiToken(db, id))) throw notFound(`active token ${id}`);
    await audit(request.actor.label, 'token.revoke', { id });
    return { id, revoked: true };
  });
}
