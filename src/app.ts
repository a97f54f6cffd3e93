import Fastify, { type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import { serializerCompiler, validatorCompiler } from 'fastify-type-provider-zod';
import type { Context } from './context.js';
import { consoleRoutes } from './console/index.js';
import { expiredFormPage, refusalPage } from './console/guard.js';
import { registerSecurity } from './api/security.js';
import { sweepRateCounters } from './db/rate-counters.js';
import { accountRoutes, tokenRoutes } from './api/accounts.js';
import { attachmentRoutes } from './api/attachments.js';
import { collectOpenApi, docsRoutes } from './api/docs.js';
import { errorHandler, HttpError } from './api/errors.js';
import { enforceAccess } from './api/guard.js';
import { decorateMailer } from './api/mailer.js';
import { RequestLog } from './api/request-log.js';
import { listRoutes } from './api/lists.js';
import { journalistRoutes } from './api/journalists.js';
import { peopleRoutes } from './api/people.js';
import { newsroomRoutes } from './api/newsroom.js';
import { opsRoutes } from './api/ops.js';
import { probeRoutes } from './api/probes.js';
import { queueBoardRoutes } from './api/queue-board.js';
import { releaseRoutes } from './api/releases.js';
import { suppressionRoutes } from './api/suppressions.js';
import { testSendRoutes } from './api/test-send.js';
import { unsubscribeRoutes } from './api/unsubscribe.js';
import { webhookRoutes } from './api/webhooks.js';
import { providerWebhookRoutes, type WebhookOptions } from './api/provider-webhooks.js';

/** TRUST_PROXY as Fastify takes it: a count of hops becomes "trust the nearest N". */
const trustProxy = (setting: boolean | number | string) =>
  typeof setting === 'number' ? (_address: string, hop: number) => hop < setting : setting;

/** Old rate-limit windows go every hour; the table stays small without a job of its own. */
function sweepCounters(app: FastifyInstance, ctx: Context) {
  const timer = setInterval(
    () =>
      sweepRateCounters(ctx.db).catch((error) =>
        ctx.log.warn({ err: (error as Error).message }, 'rate counter sweep failed'),
      ),
    3_600_000,
  );
  timer.unref();
  app.addHook('onClose', async () => clearInterval(timer));
}

/** The HTTP API and the staff console. Logging goes through the shared pino logger; errors all take one shape. */
export async function buildApp(
  ctx: Context,
  options: { providerWebhooks?: WebhookOptions } = {},
): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log.child({ role: 'api' }) as FastifyBaseLogger,
    logController: new RequestLog(),
    trustProxy: trustProxy(ctx.config.TRUST_PROXY),
    bodyLimit: ctx.config.MAX_BODY_BYTES + 64 * 1024,
  });
  // First, so that every route registered after it gets its guard from the access table.
  enforceAccess(app, {
    db: ctx.db,
    config: ctx.config,
    metricsToken: ctx.config.METRICS_TOKEN,
    refusalPage,
    expiredFormPage,
  });
  // Route schemas are zod: one declaration validates the request, types the handler, checks the answer and documents
  // it.
  app.setValidatorCompiler(validatorCompiler);
  app.setSerializerCompiler(serializerCompiler);
  decorateMailer(app, ctx.config);
  sweepCounters(app, ctx);
  app.setErrorHandler(errorHandler);
  app.setNotFoundHandler((request, reply) =>
    reply
      .status(404)
      .send({ error: 'not_found', message: `no route ${request.method} ${request.url.split('?')[0]}`, details: {} }),
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
  // Before any route, so that every route's schema is in the document.
  await collectOpenApi(app);

  await app.register(probeRoutes, { ctx });
  await app.register(listRoutes, { prefix: '/api/lists', ctx });
  await app.register(releaseRoutes, { prefix: '/api/releases', ctx });
  await app.register(attachmentRoutes, { prefix: '/api/releases', ctx });
  await app.register(testSendRoutes, { prefix: '/api/releases', ctx });
  await app.register(unsubscribeRoutes, { ctx });
  await app.register(journalistRoutes, { ctx });
  await app.register(peopleRoutes, { prefix: '/api', ctx });
  await app.register(providerWebhookRoutes, { ctx, webhooks: options.providerWebhooks });
  await app.register(newsroomRoutes, { ctx });
  await app.register(opsRoutes, { prefix: '/api/ops', ctx });
  await app.register(queueBoardRoutes, { ctx });
  await app.register(suppressionRoutes, { prefix: '/api/suppressions', ctx });
  await app.register(accountRoutes, { prefix: '/api/accounts', ctx });
  await app.register(tokenRoutes, { prefix: '/api/tokens', ctx });
  await app.register(webhookRoutes, { prefix: '/api/webhooks', ctx });
  await consoleRoutes(app, ctx);
  await docsRoutes(app);
  return app;
}
