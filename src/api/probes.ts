import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyBaseLogger, type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Context } from '../context';
import { readiness } from '../ops/health';
import { requireRole } from './auth';
import { errorHandler, HttpError } from './errors';

/** Compares in constant time, so the metrics token cannot be guessed byte by byte. */
function sameSecret(given: string, expected: string): boolean {
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** /metrics on the API port: the METRICS_TOKEN bearer (for Prometheus), or an operator or admin credential. */
function metricsGuard(ctx: Context) {
  const staff = requireRole(ctx.db, 'operator');
  return async (request: FastifyRequest, reply: FastifyReply) => {
    const header = request.headers.authorization ?? '';
    if (ctx.config.METRICS_TOKEN && sameSecret(header, `Bearer ${ctx.config.METRICS_TOKEN}`)) return;
    await staff(request, reply);
  };
}

/**
 * Liveness, readiness and Prometheus metrics. `guarded` is false only on the separate
 * METRICS_PORT listener, which operators bind where only Prometheus and the orchestrator reach.
 */
export function probeRoutes(app: FastifyInstance, ctx: Context, guarded: boolean) {
  app.get('/healthz', async () => ({ ok: true }));

  app.get('/readyz', async (_request, reply) => {
    const result = await readiness(ctx);
    reply.header('Cache-Control', 'no-store');
    return reply.status(result.ready ? 200 : 503).send(result);
  });

  app.get('/metrics', guarded ? { preHandler: metricsGuard(ctx) } : {}, async (_request, reply) => {
    let body: string;
    try {
      body = await ctx.metrics.registry.metrics();
    } catch (error) {
      // A scrape that cannot read PostgreSQL or Redis fails whole, so Prometheus marks the target down.
      throw new HttpError(503, 'unavailable', `metrics could not be collected: ${(error as Error).message}`);
    }
    return reply.type(ctx.metrics.registry.contentType).header('Cache-Control', 'no-store').send(body);
  });
}

/** The unauthenticated probe listener on METRICS_PORT (every role, so worker-only processes expose their histograms). */
export async function startProbeServer(ctx: Context, port: number, host: string): Promise<FastifyInstance> {
  const app = Fastify({ loggerInstance: ctx.log.child({ role: 'probes' }) as FastifyBaseLogger, disableRequestLogging: true });
  app.setErrorHandler(errorHandler);
  probeRoutes(app, ctx, false);
  await app.listen({ port, host });
  ctx.log.info({ port }, 'metrics and health probes listening');
  return app;
}
