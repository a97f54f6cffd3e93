import { z } from 'zod';
import { recordAudit } from '../db/audit.js';
import { removeSuppression, suppress, suppressionList } from '../db/subscribers.js';
import { internationalAddress, lineText } from '../fields.js';
import { notFound } from './errors.js';
import type { ApiPlugin } from './plugin.js';

const newSuppression = z.object({ email: internationalAddress, reason: lineText(200).default('added by staff') });
const suppressionParams = z.object({ email: internationalAddress });
const suppression = z.object({
  email: z.string(),
  reason: z.string(),
  source: z.string(),
  details: z.unknown(),
  createdAt: z.string(),
});

/**
 * Addresses that must never be mailed again, whatever list they are on (invariant "consent sticks"), under
 * /api/suppressions.
 */
export const suppressionRoutes: ApiPlugin = async (app, { ctx }) => {
  app.get('', { schema: { response: { 200: z.object({ items: z.array(suppression) }) } } }, async () => {
    const rows = await suppressionList(ctx.db, 1000);
    return {
      items: rows.map((r) => ({
        email: r.email_key,
        reason: r.reason,
        source: r.source,
        details: r.details,
        createdAt: r.created_at.toISOString(),
      })),
    };
  });

  const added = z.object({ email: z.string(), reason: z.string() });
  app.post('', { schema: { body: newSuppression, response: { 201: added } } }, async (request, reply) => {
    const input = request.body;
    await suppress(ctx.db, input.email, input.reason, 'staff', { by: request.actor.label });
    await recordAudit(ctx.db, {
      releaseId: null,
      actor: request.actor.label,
      action: 'suppress',
      details: { email: input.email.toLowerCase(), reason: input.reason },
    });
    reply.status(201);
    return { email: input.email.toLowerCase(), reason: input.reason };
  });

  // An admin's correction (a bounce that was the receiving side's mistake). The address may be added
  // to lists again; memberships that ended stay ended, so nobody is re-subscribed by this.
  app.delete('/:email', { schema: { params: suppressionParams } }, async (request, reply) => {
    const { email } = request.params;
    if (!(await removeSuppression(ctx.db, email))) throw notFound(`suppression of ${email.toLowerCase()}`);
    await recordAudit(ctx.db, {
      releaseId: null,
      actor: request.actor.label,
      action: 'unsuppress',
      details: { email: email.toLowerCase() },
    });
    return reply.status(204).send();
  });
};
