import type { Readable } from 'node:stream';
import { z } from 'zod';
import { createList, findList, listLists } from '../db/lists.js';
import { recordAudit } from '../db/audit.js';
import { findMember, removeMember, upsertMembers } from '../db/subscribers.js';
import { idParam, internationalAddress, lineText, optionalLine } from '../fields.js';
import { importCsv, ImportHeaderError, ImportTooLargeError } from '../subscribers/csv-import.js';
import { HttpError, notFound } from './errors.js';
import type { ApiPlugin } from './plugin.js';

const newList = z.object({ name: lineText(120) });
const newSubscriber = z.object({ email: internationalAddress, name: optionalLine(200), outlet: optionalLine(200) });
const listParams = z.object({ listId: idParam });
const memberParams = z.object({ listId: idParam, subscriberId: idParam });

const list = z.object({ id: z.number(), name: z.string(), slug: z.string() });
const member = z.object({
  id: z.number(),
  email: z.string(),
  name: z.string().nullable(),
  outlet: z.string().nullable(),
  listId: z.number(),
  status: z.string().describe('active, unsubscribed, suppressed or not-member'),
});
const importReport = z.object({
  added: z.number(),
  updated: z.number(),
  suppressed: z.number(),
  invalid: z.array(z.object({ line: z.number(), reason: z.string() })),
  invalidCount: z.number(),
});

/** Lists and their members, under /api/lists. */
export const listRoutes: ApiPlugin = async (app, { ctx }) => {
  app.get(
    '',
    { schema: { response: { 200: z.object({ items: z.array(list.extend({ activeSubscribers: z.number() })) }) } } },
    async () => ({
      items: await listLists(ctx.db),
    }),
  );

  app.post('', { schema: { body: newList, response: { 201: list } } }, async (request, reply) => {
    reply.status(201);
    return createList(ctx.db, request.body.name);
  });

  const existingList = async (listId: number) => {
    if (!(await findList(ctx.db, listId))) throw notFound(`list ${listId}`);
    return listId;
  };

  const memberAnswer = member.nullable();
  app.post(
    '/:listId/subscribers',
    { schema: { params: listParams, body: newSubscriber, response: { 200: memberAnswer, 201: memberAnswer } } },
    async (request, reply) => {
      const listId = await existingList(request.params.listId);
      const input = request.body;
      const counts = await upsertMembers(ctx.db, listId, [input]);
      reply.status(counts.added > 0 ? 201 : 200);
      return findMember(ctx.db, listId, input.email);
    },
  );

  // Staff remove an active member; an unsubscribed membership is kept, so consent sticks (invariant "consent sticks").
  const removedAnswer = z.object({ listId: z.number(), subscriberId: z.number(), removed: z.literal(true) });
  app.delete(
    '/:listId/subscribers/:subscriberId',
    { schema: { params: memberParams, response: { 200: removedAnswer } } },
    async (request) => {
      const { listId, subscriberId } = request.params;
      const removed = await removeMember(ctx.db, listId, subscriberId);
      if (!removed) throw notFound(`active subscriber ${subscriberId} of list ${listId}`);
      await recordAudit(ctx.db, {
        releaseId: null,
        actor: request.actor.label,
        action: 'member.remove',
        details: { listId, subscriberId },
      });
      return { listId, subscriberId, removed: true as const };
    },
  );

  // The body is a CSV file (Content-Type: text/csv), streamed to the parser: no body schema, only its documentation.
  const importSchema = {
    params: listParams,
    description:
      'Send the file as the raw body with Content-Type: text/csv (a header line naming at least `email`; `name` and `outlet` optional).',
    response: { 200: importReport },
  };
  app.post('/:listId/subscribers/import', { schema: importSchema }, async (request) => {
    const listId = await existingList(request.params.listId);
    if (!String(request.headers['content-type'] ?? '').startsWith('text/csv')) {
      throw new HttpError(415, 'unsupported_media_type', 'send the file with Content-Type: text/csv');
    }
    const maxBytes = ctx.config.MAX_IMPORT_BYTES;
    // A declared size over the limit is refused before a byte is read or a row written.
    if (Number(request.headers['content-length'] ?? 0) > maxBytes) {
      throw new HttpError(413, 'payload_too_large', `the file is larger than ${maxBytes} bytes (MAX_IMPORT_BYTES)`, {
        field: 'body',
      });
    }
    try {
      return await importCsv(ctx.db, listId, request.body as Readable, maxBytes);
    } catch (error) {
      if (error instanceof ImportHeaderError)
        throw new HttpError(400, 'invalid_csv', error.message, { field: 'email' });
      if (error instanceof ImportTooLargeError)
        throw new HttpError(413, 'payload_too_large', error.message, { field: 'body', report: error.report });
      throw error;
    }
  });
};
