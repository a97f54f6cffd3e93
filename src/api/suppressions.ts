import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Context } from '../context';
import { recordAudit } from '../db/audit';
import { removeSuppression, suppress, suppressionList } from '../db/subscribers';
import { internationalAddress, lineText } from '../fields';
import { notFound, parse } from './errors';

const newSuppression = z.object({ email: internationalAddress, reason: lineText(200).default('added by staff') });
const suppressionParams = z.object({ email: internationalAddress });

/** Addresses that must never be mailed again, whatever list they are on (invariant "consent sticks"). */
export function suppressionRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/api/suppressions', async () => {
    const rows = await suppressionList(ctx.db, 1000);
    return {
      items: rows.map((r) => ({ email: r.email_key, reason: r.reason, source: r.source, details: r.details, createdAt: r.created_at.toISOString() })),
    };
  });

  app.post('/api/suppressions', async (request, reply) => {
    const input = parse(newSuppression, request.body);
    await suppress(ctx.db, input.email, input.reason, 'staff', { by: request.actor!.label });
    await recordAudit(ctx.db, { releaseId: null, actor: request.actor!.label, action: 'suppress', details: { email: input.email.toLowerCase(), reason: input.reason } });
    reply.status(201);
    return { email: input.email.toLowerCase(), reason: input.reason };
  });

  // An admin's correction (a bounce that was the receiving side's mistake). The address may be added
  // to lists again; memberships that ended stay ended, so nobody is re-subscribed by this.
  app.delete('/api/suppressions/:email', async (request, reply) => {
    const { email } = parse(suppressionParams, request.params, 'email');
    if (!(await removeSuppression(ctx.db, email))) throw notFound(`suppression of ${email.toLowerCase()}`);
    await recordAudit(ctx.db, { releaseId: null, actor: request.actor!.label, action: 'unsuppress', details: { email: email.toLowerCase() } });
    return reply.status(204).send();
  });
}
