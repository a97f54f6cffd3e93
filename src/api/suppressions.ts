import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Context } from '../context';
import { recordAudit } from '../db/audit';
import { suppress } from '../db/subscribers';
import { emailAddress, lineText } from '../fields';
import { parse } from './errors';

const newSuppression = z.object({ email: emailAddress, reason: lineText(200).default('added by staff') });

/** Addresses that must never be mailed again, whatever list they are on (invariant 7). */
export function suppressionRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/api/suppressions', async () => {
    const rows = await ctx.db.selectFrom('suppressions').selectAll().orderBy('created_at', 'desc').limit(1000).execute();
    return { items: rows.map((r) => ({ email: r.email_key, reason: r.reason, createdAt: r.created_at.toISOString() })) };
  });

  app.post('/api/suppressions', async (request, reply) => {
    const input = parse(newSuppression, request.body);
    await suppress(ctx.db, input.email, input.reason);
    await recordAudit(ctx.db, { releaseId: null, actor: request.actor!.label, action: 'suppress', details: { email: input.email.toLowerCase(), reason: input.reason } });
    reply.status(201);
    return { email: input.email.toLowerCase(), reason: input.reason };
  });
}
