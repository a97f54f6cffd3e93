import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Context } from '../context';
import { consoleRoutes } from '../console';
import { registerSecurity } from '../console/security';
import { accountRoutes } from './accounts';
import { attachmentRoutes } from './attachments';
import { errorHandler, HttpError } from './errors';
import { listRoutes } from './lists';
import { newsroomRoutes } from './newsroom';
import { opsRoutes } from './ops';
import { probeRoutes } from './probes';
import { queueBoardRoutes } from './queue-board';
import { releaseRoutes } from './releases';
import { suppressionRoutes } from './suppressions';
import { testSendRoutes } from './test-send';
import { unsubscribeRoutes } from './unsubscribe';
import { webhookRoutes } from './webhooks';

/** The HTTP API and the staff console. Logging goes through the shared pino logger; errors all take one shape. */
export async function buildApp(ctx: Context): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log.child({ role: 'api' }) as FastifyBaseLogger,
    bodyLimit: ctx.config.MAX_BODY_BYTES + 64 * 1024,
  });
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    reply.status(404).send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}`, details: {} }),
  );
  // The API speaks JSON (and CSV for imports); text/plain is refused with 415 like any other type.
  app.removeContentTypeParser('text/plain');
  // JSON must be valid UTF-8: a replacement character silently stored in a title would be a lie.
  const parseJson = app.getDefaultJsonParser('error', 'error');
  const utf8 = new TextDecoder('utf-8', { fatal: true });
  app.removeContentTypeParser('application/json');
  app.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    let text: string;
    try {
      text = utf8.decode(body as Buffer);
    } catch {
      return done(new HttpError(400, 'invalid_encoding', 'body: is not valid UTF-8', { field: 'body' }), undefined);
    }
    parseJson(request, text, done);
  });
  // CSV imports are streamed to the parser, never buffered whole.
  app.addContentTypeParser('text/csv', (_request, payload, done) => done(null, payload));

  await registerSecurity(app, ctx);

  probeRoutes(app, ctx, true);
  listRoutes(app, ctx);
  releaseRoutes(app, ctx);
  attachmentRoutes(app, ctx);
  testSendRoutes(app, ctx);
  unsubscribeRoutes(app, ctx);
  newsroomRoutes(app, ctx);
  opsRoutes(app, ctx);
  queueBoardRoutes(app, ctx);
  suppressionRoutes(app, ctx);
  accountRoutes(app, ctx);
  webhookRoutes(app, ctx);
  await consoleRoutes(app, ctx);
  return app;
}
