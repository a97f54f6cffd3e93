import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Context } from '../context';
import { attachmentUrl, listAttachments } from '../db/attachments';
import { findRelease } from '../db/releases';
import { idParam, lineText } from '../fields';
import { addReleaseFile } from '../releases/lifecycle';
import { HttpError, notFound, parse } from './errors';
import { FILE_TYPES } from './file-types';

const uploadQuery = z.object({
  filename: lineText(200).refine((v) => !/[\\/]/.test(v), 'must not contain slashes'),
});
const releaseParams = z.object({ id: idParam });

/**
 * Files a release carries: uploaded as the raw request body (`?filename=`, Content-Type the
 * file's type) while the release is a draft, stored in PostgreSQL and linked from the email.
 */
export function attachmentRoutes(app: FastifyInstance, ctx: Context) {
  const { db, config } = ctx;

  app.register(async (scope) => {
    // Any file type is a body here, read whole up to the configured size; the rest of the API keeps JSON.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser('*', { parseAs: 'buffer', bodyLimit: config.MAX_ATTACHMENT_BYTES }, (_request, body, done) => done(null, body));

    scope.post('/api/releases/:id/attachments', async (request, reply) => {
      const { id } = parse(releaseParams, request.params, 'id');
      const { filename } = parse(uploadQuery, request.query, 'query');
      // Fastify has already refused a malformed Content-Type with 415.
      const contentType = String(request.headers['content-type'] ?? 'application/octet-stream').split(';')[0]!.trim().toLowerCase();
      if (!FILE_TYPES[contentType]) {
        throw new HttpError(415, 'unsupported_media_type', `Content-Type: ${contentType} is not accepted for a release file; send one of ${Object.keys(FILE_TYPES).join(', ')}`, { field: 'content-type' });
      }
      const data = request.body;
      if (!Buffer.isBuffer(data) || data.length === 0) throw new HttpError(400, 'invalid_input', 'body: the file is empty', { field: 'body' });
      const added = await addReleaseFile(ctx, id, request.actor.label, { filename, contentType, data });
      reply.status(201);
      return { ...added, url: attachmentUrl(config.PUBLIC_URL, added.id, added.filename) };
    });
  });

  app.get('/api/releases/:id/attachments', async (request) => {
    const { id } = parse(releaseParams, request.params, 'id');
    if (!(await findRelease(db, id))) throw notFound(`release ${id}`);
    const files = await listAttachments(db, id);
    return { items: files.map(({ accessKey: _, ...f }) => ({ ...f, url: attachmentUrl(config.PUBLIC_URL, f.id, f.filename) })) };
  });
}
