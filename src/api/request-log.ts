import { LogController, type FastifyReply, type FastifyRequest } from 'fastify';

/** Path parameters that are ids, and only those, go into the request log. */
const ID_PARAM = /^(id|[a-z]+Id)$/;

/**
 * One log line per request: the route's pattern, its id parameters, the status and the time
 * taken. Never the URL itself, nor headers: paths and queries carry unsubscribe, setup and reset
 * tokens and file keys, and Fastify's own request lines (and its "route not found" line) print
 * the raw URL.
 */
export class RequestLog extends LogController {
  override incomingRequest(): void {}

  override routeNotFound(): void {}

  override requestCompleted(error: Error | null | undefined, request: FastifyRequest, reply: FastifyReply): void {
    const ids = Object.entries((request.params ?? {}) as Record<string, unknown>)
      .filter(([name, value]) => ID_PARAM.test(name) && typeof value === 'string' && /^\d{1,15}$/.test(value))
      .map(([name, value]) => [name, Number(value)]);
    const line = {
      method: request.method,
      route: request.routeOptions.url ?? null,
      ...Object.fromEntries(ids),
      status: reply.statusCode,
      ms: Math.round(reply.elapsedTime),
    };
    if (error) reply.log.error({ ...line, err: error.message }, 'request errored');
    else reply.log.info(line, 'request');
  }
}
