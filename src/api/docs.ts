import { readFileSync } from 'node:fs';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import type { FastifyInstance } from 'fastify';
import { jsonSchemaTransform } from 'fastify-type-provider-zod';

/** The reference page, and the document it reads (src/api/access.ts: anyone may read either). */
export const DOCS_PATH = '/api/docs';
export const OPENAPI_PATH = '/api/openapi.json';

const { version } = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as {
  version: string;
};

/**
 * Collects each route's zod schemas into an OpenAPI 3 document as Fastify registers the route:
 * register it before any route. Routes that take no JSON (the CSV import, file uploads, HTML
 * pages, metrics) appear with what their schema says; Bull Board's and the docs' own are hidden.
 */
export async function collectOpenApi(app: FastifyInstance): Promise<void> {
  await app.register(swagger, {
    openapi: {
      openapi: '3.0.3',
      info: {
        title: 'Presslift',
        version,
        description:
          'Embargo-aware press release distribution. Every JSON error answers {error, message, details}; ' +
          'a 400 names each field at fault in details.fields. Send an API token as Authorization: Bearer <token> ' +
          '(or use a console session, with its X-CSRF-Token on changes); what each role may call is in src/api/access.ts.',
      },
      components: { securitySchemes: { token: { type: 'http', scheme: 'bearer' } } },
      security: [{ token: [] }],
    },
    transform: jsonSchemaTransform,
  });
}

/** GET /api/openapi.json, and the Swagger UI reference page at /api/docs. */
export async function docsRoutes(app: FastifyInstance): Promise<void> {
  app.get(OPENAPI_PATH, { schema: { hide: true } }, async () => app.swagger());
  await app.register(swaggerUi, {
    routePrefix: DOCS_PATH,
    // No call to validator.swagger.io: the page loads nothing from elsewhere (its CSP: src/console/security.ts).
    uiConfig: { validatorUrl: null } as Record<string, unknown>,
  });
}
