import { z } from 'zod';
import { recordAudit } from '../db/audit.js';
import { EVENT_TYPES, type EventType } from '../db/schema.js';
import {
  createWebhookEndpoint,
  disableWebhookEndpoint,
  endpointDeliveries,
  findWebhookEndpoint,
  webhookEndpoints,
  type WebhookEndpoint,
} from '../db/webhooks.js';
import { optionalLine } from '../fields.js';
import { newWebhookSecret } from '../integrations/signature.js';
import { notFound } from './errors.js';
import { idParams, type ApiPlugin } from './plugin.js';

const eventType = z.enum(EVENT_TYPES, { error: `must be one of ${EVENT_TYPES.join(', ')}` });
const newEndpoint = z.object({
  url: z
    .string()
    .trim()
    .max(2000, 'must be at most 2000 characters')
    .pipe(z.url({ protocol: /^https?$/, error: 'must be an http or https URL' })),
  // A form with one box ticked sends a single value.
  events: z.preprocess(
    (v) => (typeof v === 'string' ? [v] : v),
    z.array(eventType, { error: 'must list the events to send' }).min(1, 'name at least one event'),
  ),
  description: optionalLine(200),
});

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

const endpoint = z.object({
  id: z.number(),
  url: z.string(),
  events: z.array(z.enum(EVENT_TYPES)),
  description: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  lastAttemptAt: z.string().nullable(),
  lastStatus: z.number().nullable(),
  lastResponse: z.string().nullable(),
});
const attempt = z.object({
  id: z.number(),
  eventId: z.number(),
  type: z.enum(EVENT_TYPES),
  state: z.enum(['pending', 'delivered', 'failed']),
  attempts: z.number(),
  lastStatus: z.number().nullable(),
  lastResponse: z.string().nullable(),
  lastAttemptAt: z.string().nullable(),
});

/** Integration webhooks (a CMS, a wire service) under /api/webhooks: admin only, every change audited. */
export const webhookRoutes: ApiPlugin = async (app, { ctx }) => {
  const { db } = ctx;

  const listed = z.object({ items: z.array(endpoint), events: z.array(z.enum(EVENT_TYPES)) });
  app.get('', { schema: { response: { 200: listed } } }, async () => ({
    items: (await webhookEndpoints(db)).map(endpointView),
    events: [...EVENT_TYPES],
  }));

  const created = endpoint.extend({
    secret: z.string().describe('shown this once: receivers verify Presslift-Signature with it'),
  });
  app.post('', { schema: { body: newEndpoint, response: { 201: created } } }, async (request, reply) => {
    const input = request.body;
    const endpoint = await createWebhookEndpoint(db, {
      url: input.url,
      secret: newWebhookSecret(),
      events: [...new Set(input.events)] as EventType[],
      description: input.description,
      createdBy: request.actor.label,
    });
    await recordAudit(db, {
      releaseId: null,
      actor: request.actor.label,
      action: 'webhook.create',
      details: { id: endpoint.id, url: endpoint.url, events: endpoint.events },
    });
    reply.status(201);
    // The signing secret is shown this once; receivers verify Presslift-Signature with it.
    return { ...endpointView(endpoint), secret: endpoint.secret };
  });

  app.delete(
    '/:id',
    { schema: { params: idParams, response: { 200: z.object({ id: z.number(), disabled: z.literal(true) }) } } },
    async (request) => {
      const { id } = request.params;
      if (!(await disableWebhookEndpoint(db, id))) throw notFound(`webhook endpoint ${id}`);
      await recordAudit(db, {
        releaseId: null,
        actor: request.actor.label,
        action: 'webhook.disable',
        details: { id },
      });
      return { id, disabled: true as const };
    },
  );

  app.get(
    '/:id/deliveries',
    { schema: { params: idParams, response: { 200: z.object({ items: z.array(attempt) }) } } },
    async (request) => {
      const { id } = request.params;
      if (!(await findWebhookEndpoint(db, id))) throw notFound(`webhook endpoint ${id}`);
      const items = await endpointDeliveries(db, id, 50);
      return { items: items.map((d) => ({ ...d, lastAttemptAt: d.lastAttemptAt?.toISOString() ?? null })) };
    },
  );
};
