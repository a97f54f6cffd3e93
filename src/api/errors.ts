import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { hasZodFastifySchemaValidationErrors, isResponseSerializationError } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { ThrottledError } from '../auth/throttle.js';
import { EmbargoInputError } from '../embargo/time.js';
import { DomainError, type DomainCode } from '../errors.js';

/** The one error shape every API answer uses: {error, message, details}. */
export class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly details: Record<string, unknown> = {},
    /** Headers the answer must carry (the 401's WWW-Authenticate). */
    readonly headers: Record<string, string> = {},
  ) {
    super(message);
  }
}

/** What each kind of domain refusal means over HTTP; this is the only place that decides it. */
const DOMAIN_STATUS: Record<DomainCode, number> = {
  not_found: 404,
  conflict: 409,
  invalid_input: 400,
  queue_unavailable: 503,
};

export const notFound = (what: string) => new HttpError(404, 'not_found', `${what} does not exist`);

/** The 400 for input a zod schema refused: it names every field at fault (the whole part when none is). */
function invalidInput(issues: Array<{ field: string; message: string }>, where: string): HttpError {
  const fields = issues.map((issue) => ({ field: issue.field || where, message: issue.message }));
  const first = fields[0]!;
  return new HttpError(400, 'invalid_input', `${first.field}: ${first.message}`, { fields });
}

/** Validates input with a zod schema by hand (console forms); API routes declare theirs in `schema:`. */
export function parse<T extends z.ZodType>(schema: T, input: unknown, where = 'body'): z.infer<T> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  throw invalidInput(
    result.error.issues.map((issue) => ({ field: issue.path.join('.'), message: issue.message })),
    where,
  );
}

/** What a route's schema part is called in the 400 when the whole part is at fault. */
const PART_NAMES: Record<string, string> = { body: 'body', querystring: 'query', params: 'params', headers: 'headers' };

const FASTIFY_CODES: Record<string, [number, string, string]> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: [415, 'unsupported_media_type', 'send application/json (or text/csv for imports)'],
  FST_ERR_CTP_BODY_TOO_LARGE: [413, 'payload_too_large', 'the request body is larger than allowed'],
  FST_ERR_CTP_EMPTY_JSON_BODY: [400, 'invalid_json', 'the JSON body is empty'],
  FST_ERR_CTP_INVALID_JSON_BODY: [400, 'invalid_json', 'the body is not valid JSON'],
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: [400, 'invalid_body', 'the Content-Length does not match the body'],
};

export function errorHandler(error: FastifyError | Error, request: FastifyRequest, reply: FastifyReply) {
  if (error instanceof HttpError) {
    return reply
      .status(error.status)
      .headers(error.headers)
      .send({ error: error.code, message: error.message, details: error.details });
  }
  // A route's zod schema refused the request: the same 400 as every other refusal of input.
  if (hasZodFastifySchemaValidationErrors(error)) {
    const where = PART_NAMES[(error as FastifyError).validationContext ?? 'body'] ?? 'body';
    const issues = error.validation.map((issue) => ({
      field: issue.instancePath.slice(1).replaceAll('/', '.'),
      message: issue.message ?? 'is invalid',
    }));
    const refusal = invalidInput(issues, where);
    return reply.status(400).send({ error: refusal.code, message: refusal.message, details: refusal.details });
  }
  // An answer that does not match its route's response schema is our bug, never the caller's.
  if ((error as FastifyError).code === 'FST_ERR_RESPONSE_SERIALIZATION' && isResponseSerializationError(error)) {
    request.log.error({ err: error, issues: error.cause.issues }, 'response does not match its schema');
    return reply
      .status(500)
      .send({ error: 'internal', message: 'something went wrong on our side; it has been logged', details: {} });
  }
  if (error instanceof EmbargoInputError) {
    return reply
      .status(400)
      .send({ error: 'invalid_embargo', message: `${error.field}: ${error.message}`, details: { field: error.field } });
  }
  if (error instanceof ThrottledError) {
    return reply
      .status(429)
      .header('Retry-After', String(error.retryAfterSeconds))
      .send({ error: 'too_many_requests', message: error.message, details: {} });
  }
  if (error instanceof DomainError) {
    const details = error.field ? { fields: [{ field: error.field, message: error.message }] } : {};
    return reply.status(DOMAIN_STATUS[error.code]).send({ error: error.code, message: error.message, details });
  }
  const code = (error as FastifyError).code;
  const known = code ? FASTIFY_CODES[code] : undefined;
  if (known) return reply.status(known[0]).send({ error: known[1], message: known[2], details: {} });
  if (error instanceof SyntaxError) {
    return reply.status(400).send({ error: 'invalid_json', message: 'the body is not valid JSON', details: {} });
  }
  const status = (error as FastifyError).statusCode;
  if (status && status >= 400 && status < 500) {
    return reply.status(status).send({ error: 'bad_request', message: error.message, details: {} });
  }
  request.log.error({ err: error }, 'request failed');
  return reply
    .status(500)
    .send({ error: 'internal', message: 'something went wrong on our side; it has been logged', details: {} });
}
