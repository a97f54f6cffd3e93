import { z } from 'zod';
import { attachmentUrl, listAttachments } from '../db/attachments.js';
import { findRelease } from '../db/releases.js';
import { lineText } from '../fields.js';
import { addReleaseFile } from '../releases/lifecycle.js';
import { HttpError, notFound } from './errors.js';
import { FILE_TYPES } from './file-types.js';
import { idParams, type ApiPlugin } from './plugin.js';

const uploadQuery = z.object({
  filename: lineText(200).refine((v) => !/[\\/]/.test(v), 'must not contain slashes'),
});
const file = z.object({
  id: z.number(),
  filename: z.string(),
  contentType: z.string(),
  size: z.number(),
  url: z.string(),
});

/**
 * Files a release carries: uploaded as the raw request body (`?filename=`, Content-Type the
 * file's type) while the release is a draft, stored in PostgreSQL and linked from the email.
 */
export const attachmentRoutes: ApiPlugin = async (app, { ctx }) => {
  const { db, config } = ctx;

  await app.register(async (scope: typeof app) => {
    // Any file type is a body here, read whole up to the configured size; the rest of the API keeps JSON.
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(
      '*',
      { parseAs: 'buffer', bodyLimit: config.MAX_ATTACHMENT_BYTES },
      (_request, body, done) => done(null, body),
    );

    const uploadSchema = {
      params: idParams,
      querystring: uploadQuery,
      description: `The file is the raw body, its Content-Type one of ${Object.keys(FILE_TYPES).join(', ')}; only while the release is a draft.`,
      response: { 201: file },
    };
    scope.post('/:id/attachments', { schema: uploadSchema }, async (request, reply) => {
      const { id } = request.params;
      const { filename } = request.query;
      // Fastify has already refused a malformed Content-Type with 415.
      const contentType = String(request.headers['content-type'] ?? 'application/octet-stream')
        .split(';')[0]!
        .trim()
        .toLowerCase();
      if (!FILE_TYPES[contentType]) {
        throw new HttpError(
          415,
          'unsupported_media_type',
          `Content-Type: ${contentType} is not accepted for a release file; send one of ${Object.keys(FILE_TYPES).join(', ')}`,
          { field: 'content-type' },
        );
      }
      const data = request.body;
      if (!Buffer.isBuffer(data) || data.length === 0)
        throw new HttpError(400, 'invalid_input', 'body: the file is empty', { field: 'body' });
      const added = await addReleaseFile(ctx, id, request.actor.label, { filename, contentType, data });
      reply.status(201);
      return { ...added, url: attachmentUrl(config.PUBLIC_URL, added.id, added.filename) };
    });
  });

  app.get(
    '/:id/attachments',
    { schema: { params: idParams, response: { 200: z.object({ items: z.array(file) }) } } },
    async (request) => {
      const { id } = request.params;
      if (!(await findRelease(db, id))) throw notFound(`release ${id}`);
      const files = await listAttachments(db, id);
      return {
        items: files.map(({ accessKey: _, ...f }) => ({
          ...f,
          url: attachmentUrl(config.PUBLIC_URL, f.id, f.filename),
        })),
      };
    },
  );
};
