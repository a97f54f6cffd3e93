import type { FastifyPluginAsync } from 'fastify';
import type { FastifyPluginAsyncZod } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { Context } from '../context.js';
import { idParam } from '../fields.js';

/**
 * One resource of the JSON API: an encapsulated Fastify plugin, registered in src/api/app.ts with
 * its prefix (`app.register(listRoutes, { prefix: '/api/lists', ctx })`). Its routes declare
 * params, querystring, body and response as zod schemas in `schema:`, so that Fastify validates the
 * request (a 400 naming the field, src/api/errors.ts), types the handler, checks the answer and
 * documents it in /api/openapi.json. A collection's own route is '' (not '/', which would add a
 * trailing-slash twin the access table does not name).
 */
export type ApiPlugin = FastifyPluginAsyncZod<{ ctx: Context }>;

/**
 * One resource that is not JSON (the newsroom, unsubscribe pages, probes, providers' webhooks, the
 * queue board): an encapsulated plugin too, registered without a prefix, its routes written whole.
 */
export type RoutesPlugin<Options = object> = FastifyPluginAsync<{ ctx: Context } & Options>;

/** `:id` in a path: a positive whole number. */
export const idParams = z.object({ id: idParam });

/**
 * Several shapes of answer are set by whoever owns them (a report, a status board): documented loosely, passed through
 * as they are.
 */
export const looseObject = z.looseObject({});
