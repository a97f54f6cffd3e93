import type { FastifyInstance } from 'fastify';
import type { Readable } from 'node:stream';
import { z } from 'zod';
import type { Context } from '../context';
import { createList, findList, listLists } from '../db/lists';
import { recordAudit } from '../db/audit';
import { findMember, removeMember, upsertMembers } from '../db/subscribers';
import { idParam, internationalAddress, lineText, optionalLine } from '../fields';
import { importCsv, ImportHeaderError, ImportTooLargeError } from '../subscribers/csv-import';
import { HttpError, notFound, parse } from './errors';

const newList = z.object({ name: lineText(120) });
const newSubscriber = z.object({ email: internationalAddress, name: optionalLine(200), outlet: optionalLine(200) });
const listParams = z.object({ listId: idParam });
const memberParams = z.object({ listId: idParam, subscriberId: idParam });

export function listRoutes(app: FastifyInstance, ctx: Context) {
  app.get('/api/lists', async () => ({ items: await listLists(ctx.db) }));

  app.post('/api/lists', async (request, reply) => {
    const { name } = parse(newList, request.body);
    reply.status(201);
    return createList(ctx.db, name);
  });

  const existingList = async (params: unknown) => {
    const { listId } = parse(listParams, params, 'listId');
    if (!(await findList(ctx.db, listId))) throw notFound(`list ${listId}`);
    return listId;
  };

  app.post('/api/lists/:listId/subscribers', async (request, reply) => {
    const listId = await existingList(request.params);
    const input = parse(newSubscriber, request.body);
    const counts = await upsertMembers(ctx.db, listId, [input]);
    reply.status(counts.added > 0 ? 201 : 200);
    return findMember(ctx.db, listId, input.email);
  });

  // Staff remove an active member; an unsubscribed membership is kept, so consent sticks (invariant "consent sticks").
  app.delete('/api/lists/:listId/subscribers/:subscriberId', async (request) => {
    const { listId, subscriberId } = parse(memberParams, request.params, 'params');
    const removed = await removeMember(ctx.db, listId, subscriberId);
    if (!removed) throw notFound(`active subscriber ${subscriberId} of list ${listId}`);
    await recordAudit(ctx.db, { releaseId: null, actor: request.actor!.label, action: 'member.remove', details: { listId, subscriberId } });
    return { listId, subscriberId, removed: true };
  });

  app.post('/api/lists/:listId/subscribers/import', async (request) => {
    const listId = await existingList(request.params);
    if (!String(request.headers['content-type'] ?? '').startsWith('text/csv')) {
      throw new HttpError(415, 'unsupported_media_type', 'send the file with Content-Type: text/csv');
    }
    const maxBytes = ctx.config.MAX_IMPORT_BYTES;
    // A declared size over the limit is refused before a byte is read or a row written.
    if (Number(request.headers['content-length'] ?? 0) > maxBytes) {
      throw new HttpError(413, 'payload_too_large', `the file is larger than ${maxBytes} bytes (MAX_IMPORT_BYTES)`, { field: 'body' });
    }
    try {
      return await importCsv(ctx.db, listId, request.body as Readable, maxBytes);
    } catch (error) {
      if (error instanceof ImportHeaderError) throw new HttpError(400, 'invalid_csv', error.message, { field: 'email' });
      if (error instanceof ImportTooLargeError) throw new HttpError(413, 'payload_too_large', error.message, { field: 'body', report: error.report });
      throw error;
    }
  });
}
