import Fastify, { LogController, type FastifyBaseLogger, type FastifyInstance } from 'fastify';
import type { Context } from '../context.js';
import { readiness } from '../telemetry/health.js';
import { errorHandler, HttpError } from './errors.js';
import type { RoutesPlugin } from './plugin.js';

/**
 * Liveness, readiness and Prometheus metrics. On the API port /metrics takes METRICS_TOKEN or an
 * operator's credential (src/api/access.ts); the METRICS_PORT listener, which operators bind where
 * only Prometheus and the orchestrator reach, serves the same routes without a guard.
 * Neither answer carries a raw PostgreSQL or Redis error: those go to the log.
 */
export const probeRoutes: RoutesPlugin = async (app, { ctx }) => {
  app.get('/healthz', async () => ({ ok: true }));

  app.get('/readyz', async (request, reply) => {
    const result = await readiness(ctx);
    if (!result.ready) request.log.warn({ checks: result.details }, 'not ready');
    return reply.status(result.ready ? 200 : 503).send({ ready: result.ready, checks: result.checks });
  });

  app.get('/metrics', async (request, reply) => {
    let body: string;
    try {
      body = await ctx.metrics.registry.metrics();
    } catch (error) {
      // A scrape that cannot read PostgreSQL or Redis fails whole, so Prometheus marks the target down.
      request.log.warn({ err: (error as Error).message }, 'metrics could not be collected');
      throw new HttpError(503, 'unavailable', 'metrics could not be collected; the reason is in the log');
    }
    return reply.type(ctx.metrics.registry.contentType).send(body);
  });
};

/** Probes are scraped every few seconds: no line per request. */
class QuietLog extends LogController {
  override isLogDisabled(): boolean {
    return true;
  }
}

/**
 * The unauthenticated probe listener on METRICS_PORT (every role, so worker-only processes expose their histograms).
 */
export async function startProbeServer(ctx: Context, port: number, host: string): Promise<FastifyInstance> {
  const app = Fastify({
    loggerInstance: ctx.log.child({ role: 'probes' }) as FastifyBaseLogger,
    logController: new QuietLog(),
  });
  app.setErrorHandler(errorHandler);
  app.addHook('onSend', async (_request, reply) => {
    reply.header('Cache-Control', 'no-store');
  });
  await app.register(probeRoutes, { ctx });
  await app.listen({ port, host });
  ctx.log.info({ port }, 'metrics and health probes listening');
  return app;
}
