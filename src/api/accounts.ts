import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { hashPassword, MIN_PASSWORD_LENGTH } from '../auth/password';
import type { Context } from '../context';
import { AccountExistsError, createAccount, disableAccount, listAccounts } from '../db/accounts';
import { recordAudit } from '../db/audit';
import { createApiToken, revokeApiToken } from '../db/tokens';
import { emailAddress, idParam, lineText } from '../fields';
import { requireRole } from './auth';
import { HttpError, notFound, parse } from './errors';

const role = z.enum(['editor', 'operator', 'admin'], { error: 'must be editor, operator or admin' });
const newAccount = z.object({
  email: emailAddress,
  role,
  password: z.string().min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`).max(1000),
});
const newToken = z.object({ name: lineText(120), role });
const idParams = z.object({ id: idParam });

/** Staff accounts and API tokens: admin only, and every change is in the audit log. */
export function accountRoutes(app: FastifyInstance, ctx: Context) {
  const { db } = ctx;
  const admin = { preHandler: requireRole(db, 'admin') };

  app.get('/api/accounts', admin, async () => ({ items: await listAccounts(db) }));

  app.post('/api/accounts', admin, async (request, reply) => {
    const input = parse(newAccount, request.body);
    try {
      const { id } = await createAccount(db, input.email, input.role, await hashPassword(input.password));
      await recordAudit(db, { releaseId: null, actor: request.actor!.label, action: 'account.create', details: { id, email: input.email, role: input.role } });
      reply.status(201);
      return { id, email: input.email, role: input.role };
    } catch (error) {
      if (error instanceof AccountExistsError) throw new HttpError(409, 'conflict', `email: ${error.message}`, { field: 'email' });
      throw error;
    }
  });

  app.post('/api/accounts/:id/disable', admin, async (request) => {
    const { id } = parse(idParams, request.params, 'id');
    if (id === request.actor!.accountId) throw new HttpError(400, 'invalid_input', 'id: you cannot disable your own account', { field: 'id' });
    const email = await disableAccount(db, id);
    if (!email) throw notFound(`active account ${id}`);
    await recordAudit(db, { releaseId: null, actor: request.actor!.label, action: 'account.disable', details: { id, email } });
    return { id, disabled: true };
  });

  app.post('/api/tokens', admin, async (request, reply) => {
    const input = parse(newToken, request.body);
    const created = await createApiToken(db, input.name, input.role);
    await recordAudit(db, { releaseId: null, actor: request.actor!.label, action: 'token.create', details: { id: created.id, name: input.name, role: input.role } });
    reply.status(201);
    // The only time the token is shown: only its hash is kept.
    return { id: created.id, name: input.name, role: input.role, token: created.token };
  });

  app.delete('/api/tokens/:id', admin, async (request) => {
    const { id } = parse(idParams, request.params, 'id');
    if (!(await revokeApiToken(db, id))) throw notFound(`active token ${id}`);
    await recordAudit(db, { releaseId: null, actor: request.actor!.label, action: 'token.revoke', details: { id } });
    return { id, revoked: true };
  });
}
