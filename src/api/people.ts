import { z } from 'zod';
import { recordAudit } from '../db/audit.js';
import { missingLists, updateListOffer } from '../db/lists.js';
import { eraseSubscriber, exportSubscriber, searchSubscribers } from '../db/people.js';
import { subscriberExists } from '../db/subscribers.js';
import { accessRequests, activeBars, createBar, decideAccessRequest, liftBar } from '../db/vetting.js';
import { idParam, lineText, optionalLine } from '../fields.js';
import { messageSettings } from '../mail/message.js';
import { signPreferenceToken } from '../mail/preference-token.js';
import { serviceMessage } from '../mail/service-mail.js';
import { HttpError, notFound } from './errors.js';
import { idParams, type ApiPlugin } from './plugin.js';

const searchQuery = z.object({
  query: z.string().max(200, 'must be at most 200 characters').default(''),
  list: idParam.optional(),
  cursor: z.coerce
    .number()
    .int('must be a whole number')
    .min(0, 'must not be negative')
    .max(2 ** 53)
    .default(0),
  limit: z.coerce
    .number()
    .int('must be a whole number')
    .min(1, 'must be at least 1')
    .max(500, 'must be at most 500')
    .default(50),
});
const listParams = z.object({ listId: idParam });
const listOffer = z.object({ public: z.boolean().optional(), description: optionalLine(300) }).strict();
const decision = z
  .object({
    decision: z.enum(['approve', 'refuse'], 'must be "approve" or "refuse"'),
    note: optionalLine(1000),
    // The console's form sends one checked box as a string, several as a list.
    listIds: z.preprocess((v) => (v === undefined ? [] : [v].flat()), z.array(idParam).max(50)),
  })
  .strict();
const requestQuery = z.object({ status: z.enum(['pending', 'approved', 'refused']).default('pending') });
const DOMAIN = /^(?=.{1,253}$)([a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$/i;
const newBar = z
  .object({
    subscriberId: idParam.optional(),
    domain: z.string().trim().toLowerCase().regex(DOMAIN, 'must be a domain such as example.org').optional(),
    reason: lineText(500),
    endsAt: z.iso.datetime({ offset: true, message: 'must be an ISO 8601 instant with its offset' }).optional(),
  })
  .strict()
  .refine((b) => (b.subscriberId === undefined) !== (b.domain === undefined), {
    message: 'name either subscriberId or domain',
    path: ['subscriberId'],
  });

/**
 * Staff's view of people: subscriber search (keyset pages), export and erasure of one person, the
 * queue of embargo access requests and its decisions, bars of embargo breakers, and opening a list
 * to public sign-up. Registered under /api.
 */
export const peopleRoutes: ApiPlugin = async (app, { ctx }) => {
  const { db, config, keys } = ctx;

  app.get('/subscribers', { schema: { querystring: searchQuery } }, async (request) => {
    const q = request.query;
    const page = await searchSubscribers(db, {
      query: q.query.trim(),
      listId: q.list ?? null,
      after: q.cursor,
      limit: q.limit,
    });
    return { items: page.items, nextCursor: page.nextCursor };
  });

  app.get('/subscribers/:id/export', { schema: { params: idParams } }, async (request, reply) => {
    const { id } = request.params;
    const data = await exportSubscriber(db, id);
    if (!data) throw notFound(`subscriber ${id}`);
    await recordAudit(db, {
      releaseId: null,
      actor: request.actor.label,
      action: 'subscriber.export',
      details: { subscriberId: id },
    });
    reply.header('Content-Disposition', `attachment; filename="subscriber-${id}.json"`);
    return data;
  });

  const erasedAnswer = z.object({ id: z.number(), erased: z.literal(true) });
  app.delete('/subscribers/:id', { schema: { params: idParams, response: { 200: erasedAnswer } } }, async (request) => {
    const { id } = request.params;
    const erased = await eraseSubscriber(db, id, request.actor.label);
    if (!erased) throw notFound(`subscriber ${id}`);
    return { id, erased: true as const };
  });

  app.patch('/lists/:listId', { schema: { params: listParams, body: listOffer } }, async (request) => {
    const { listId } = request.params;
    const change = request.body;
    const list = await updateListOffer(db, listId, change);
    if (!list) throw notFound(`list ${listId}`);
    await recordAudit(db, {
      releaseId: null,
      actor: request.actor.label,
      action: 'list.offer',
      details: { listId, public: list.public },
    });
    return list;
  });

  app.get('/access-requests', { schema: { querystring: requestQuery } }, async (request) => {
    const { status } = request.query;
    return { items: await accessRequests(db, status) };
  });

  const decided = z.object({ id: z.number(), status: z.enum(['approved', 'refused']) });
  app.post(
    '/access-requests/:id/decision',
    { schema: { params: idParams, body: decision, response: { 200: decided } } },
    async (request) => {
      const { id } = request.params;
      const body = request.body;
      const approve = body.decision === 'approve';
      if (approve && body.listIds.length === 0)
        throw new HttpError(400, 'invalid_input', 'listIds: choose at least one advance list', {
          fields: [{ field: 'listIds', message: 'choose at least one advance list' }],
        });
      const missing = await missingLists(db, body.listIds);
      if (missing.length > 0)
        throw new HttpError(400, 'invalid_input', `listIds: no list ${missing.join(', ')}`, {
          fields: [{ field: 'listIds', message: `no list ${missing.join(', ')}` }],
        });
      const outcome = await decideAccessRequest(db, id, {
        approve,
        note: body.note,
        listIds: body.listIds,
        actor: request.actor.label,
      });
      if (!outcome) throw new HttpError(409, 'conflict', `access request ${id} does not exist or was already decided`);
      await recordAudit(db, {
        releaseId: null,
        actor: request.actor.label,
        action: approve ? 'access.approved' : 'access.refused',
        details: { requestId: id, subscriberId: outcome.subscriberId, listIds: body.listIds },
      });
      const preferences = `${config.PUBLIC_URL}/preferences/${signPreferenceToken(keys, outcome.subscriberId)}`;
      const text = approve
        ? `Your application for advance copies of ${config.ORG_NAME}'s releases is accepted. From now on, releases reach you before their embargo, ` +
          `with a calendar entry for the moment each one lifts. They are confidential until then.\n\n${body.note ? `${body.note}\n\n` : ''}Your preferences: ${preferences}\n`
        : `Your application for advance copies of ${config.ORG_NAME}'s releases was not accepted.\n\n${body.note ? `${body.note}\n\n` : ''}` +
          `You still receive our releases when they are published. Your preferences: ${preferences}\n`;
      await app.mailer().send(
        await serviceMessage(messageSettings(config, keys), {
          to: outcome.email,
          subject: approve ? 'Advance copies: your application is accepted' : 'Advance copies: your application',
          text,
        }),
      );
      return { id, status: approve ? ('approved' as const) : ('refused' as const) };
    },
  );

  app.get('/bars', async () => ({ items: await activeBars(db) }));

  app.post(
    '/bars',
    { schema: { body: newBar, response: { 201: z.object({ id: z.number() }) } } },
    async (request, reply) => {
      const body = request.body;
      if (body.subscriberId !== undefined && !(await subscriberExists(db, body.subscriberId))) {
        throw new HttpError(400, 'invalid_input', `subscriberId: no subscriber ${body.subscriberId}`, {
          fields: [{ field: 'subscriberId', message: 'no such subscriber' }],
        });
      }
      const id = await createBar(db, {
        subscriberId: body.subscriberId ?? null,
        domain: body.domain ?? null,
        reason: body.reason,
        endsAt: body.endsAt ? new Date(body.endsAt) : null,
        actor: request.actor.label,
      });
      await recordAudit(db, {
        releaseId: null,
        actor: request.actor.label,
        action: 'bar.create',
        details: {
          barId: id,
          subscriberId: body.subscriberId ?? null,
          domain: body.domain ?? null,
          endsAt: body.endsAt ?? null,
        },
      });
      reply.status(201);
      return { id };
    },
  );

  const lifted = z.object({ id: z.number(), lifted: z.literal(true) });
  app.delete('/bars/:id', { schema: { params: idParams, response: { 200: lifted } } }, async (request) => {
    const { id } = request.params;
    if (!(await liftBar(db, id))) throw notFound(`bar ${id}`);
    await recordAudit(db, { releaseId: null, actor: request.actor.label, action: 'bar.lift', details: { barId: id } });
    return { id, lifted: true as const };
  });
};
