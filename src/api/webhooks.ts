import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Context } from '../context';
import { recordAudit } from '../db/audit';
import { EVENT_TYPES, type EventType } from '../db/schema';
import { createWebhookEndpoint, disableWebhookEndpoint, endpointDeliveries, findWebhookEndpoint, webhookEndpoints, type WebhookEndpoint } from '../db/webhooks';
import { idParam, optionalLine } from '../fields';
import { newWebhookSecret } from '../integrations/signature';
import { notFound, parse } from './errors';

const eventType = z.enum(EVENT_TYPES, { error: `must be one of ${EVENT_TYPES.join(', ')}` });
const newEndpoint = z.object({
  url: z
    .string()
    .trim()
    .max(2000, 'must be at most 2000 characters')
    .pipe(z.url({ protocol: /^https?$/, error: 'must be an http or https URL' })),
  // A form with one box ticked sends a single value.
  events: z.preprocess((v) => (typeof v === 'string' ? [v] : v), z.array(eventType, { error: 'must list the events to send' }).min(1, 'name at least one event')),
  description: optionalLine(200),
});
const idParams = z.object({ id: idParam });

/** An endpoint as the API shows it: never its secret, which is shown once at creation. */
export function endpointView(endpoint: WebhookEndpoint) {
  return {
    id: endpoint.id,
    url: endpoint.url,
    events: endpoint.events,
    description: endpoint.description,
    createdBy: endpoint.created_by,
    createdAt: endpoint.created_at.toISOString(),
    lastAttemptAt: endpoint.last_attempt_at?.toISOString() ?? null,
    lastStatus: endpoint.last_status,
    lastResponse: endpoint.last_response,
  };
}

/** Integration webhooks (a CMS, a wire service): admin only, every change audited. */
export function webhookRoutes(app: FastifyInstance, ctx: Context) {
  const { db } = ctx;

  app.get('/api/webhooks', async () => ({ items: (await webhookEndpoints(db)).map(endpointView), events: EVENT_TYPES }));

  app.post('/api/webhooks', async (request, reply) => {
    const input = parse(newEndpoint, request.body);
    const endpoint = await createWebhookEndpoint(db, {
      url: input.url, secret: newWebhookSecret(), events: [...new Set(input.events)] as EventType[], description: input.description, createdBy: request.actor.label,
    });
    await recordAudit(db, { releaseId: null, actor: request.actor.label, action: 'webhook.create', details: { id: endpoint.id, url: endpoint.url, events: endpoint.events } });
    reply.status(201);
    // The signing secret is shown this once; receivers verify Presslift-Signature with it.
    return { ...endpointView(endpoint), secret: endpoint.secret };
  });

  app.delete('/api/webhooks/:id', async (request) => {
    const { id } = parse(idParams, request.params, 'id');
    if (!(await disableWebhookEndpoint(db, id))) throw notFound(`webhook endpoint ${id}`);
    await recordAudit(db, { releaseId: null, actor: request.actor.label, action: 'webhook.disable', details: { id } });
    return { id, disabled: true };
  });

  app.get('/api/webhooks/:id/deliveries', async (request) => {
    const { id } = parse(idParams, request.params, 'id');
    if (!(await findWebhookEndpoint(db, id))) throw notFound(`webhook endpoint ${id}`);
    const items = await endpointDeliveries(db, id, 50);
    return { items: items.map((d) => ({ ...d, lastAttemptAt: d.lastAttemptAt?.toISOString() ?? null })) };
  });
}
