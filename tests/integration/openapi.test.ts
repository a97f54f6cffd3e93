import { validate, compileErrors } from '@readme/openapi-parser';
import Fastify from 'fastify';
import type { OpenAPIV3 } from 'openapi-types';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ROUTES } from '../../src/api/access.js';
import { enforceAccess } from '../../src/api/guard.js';
import { errorHandler } from '../../src/api/errors.js';
import { createHarness, type Harness } from '../support/harness.js';

let h: Harness;
beforeAll(async () => {
  h = await createHarness();
});
afterAll(async () => {
  await h?.close();
});

/** Where the document and its page live: not API routes themselves. */
const isDocs = (url: string) => url === '/api/openapi.json' || url === '/api/docs' || url.startsWith('/api/docs/');
/** Fastify's `/api/releases/:id` as OpenAPI writes it, `/api/releases/{id}`. */
const openApiPath = (url: string) => url.replace(/:(\w+)/g, '{$1}');

describe('the API contract', () => {
  it('is an OpenAPI 3 document anyone may read, naming every route under /api that Fastify registered', async () => {
    const response = await h.app.inject({ method: 'GET', url: '/api/openapi.json' });
    expect(response.statusCode).toBe(200);
    const document = response.json() as OpenAPIV3.Document;
    expect(document.openapi).toMatch(/^3\./);

    const routes = h.app.registeredRoutes.filter(
      (r) => r.method !== 'HEAD' && r.url.startsWith('/api/') && !isDocs(r.url),
    );
    // Every /api route the access table names, so the check below cannot pass over an empty list.
    const tabled = Object.keys(ROUTES).filter(
      (key) => key.split(' ')[1]!.startsWith('/api/') && !isDocs(key.split(' ')[1]!),
    );
    expect(routes.map((r) => `${r.method} ${r.url}`).sort()).toEqual(tabled.sort());
    const missing = routes.filter(
      (r) => !document.paths[openApiPath(r.url)]?.[r.method.toLowerCase() as OpenAPIV3.HttpMethods],
    );
    expect(missing.map((r) => `${r.method} ${r.url}`)).toEqual([]);

    const result = await validate(structuredClone(document) as never);
    expect(result.valid ? 'valid' : compileErrors(result)).toBe('valid');
  });

  it('shows each route its zod schemas: what a request must carry and what it answers', async () => {
    const document = (await h.app.inject({ method: 'GET', url: '/api/openapi.json' })).json() as OpenAPIV3.Document;
    const create = document.paths['/api/releases']!.post!;
    const body = (create.requestBody as OpenAPIV3.RequestBodyObject).content['application/json']!
      .schema as OpenAPIV3.SchemaObject;
    expect(body.required).toEqual(expect.arrayContaining(['title', 'body', 'embargo', 'listIds']));
    const created = (create.responses['201'] as OpenAPIV3.ResponseObject).content!['application/json']!
      .schema as OpenAPIV3.SchemaObject;
    expect(Object.keys(created.properties!)).toEqual(expect.arrayContaining(['id', 'status', 'embargo', 'counts']));
    const deliveries = document.paths['/api/releases/{id}/deliveries']!.get!;
    expect(
      deliveries.parameters!.map((p) => [(p as OpenAPIV3.ParameterObject).in, (p as OpenAPIV3.ParameterObject).name]),
    ).toEqual(
      expect.arrayContaining([
        ['path', 'id'],
        ['query', 'state'],
        ['query', 'cursor'],
        ['query', 'limit'],
      ]),
    );
  });

  it('serves the reference page under the console policy, inline styles aside, and its copy of the document', async () => {
    const page = await h.app.inject({ method: 'GET', url: '/api/docs' });
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toMatch(/^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    expect(csp).toContain("script-src 'self'");
    expect(csp).not.toMatch(/script-src[^;]*unsafe/);
    expect(csp).toContain("frame-ancestors 'self'");
    const scripts = [...page.body.matchAll(/<script src="([^"]+)"/g)].map((m) => m[1]!);
    expect(scripts.length).toBeGreaterThan(0);
    for (const src of scripts) {
      const script = await h.app.inject({ method: 'GET', url: new URL(src, 'http://x/api/docs').pathname });
      expect([src, script.statusCode]).toEqual([src, 200]);
    }
    const copy = await h.app.inject({ method: 'GET', url: '/api/docs/json' });
    expect(copy.json().paths['/api/releases']).toBeDefined();
  });
});

describe('the actor on the request', () => {
  it("is the signed-in person on staff routes, and where nobody signed in it answers the guard's 401", async () => {
    const app = Fastify();
    enforceAccess(app, { db: h.ctx.db, config: h.config, refusalPage: () => '', expiredFormPage: () => '' });
    app.setErrorHandler(errorHandler);
    // A route anyone may call has no actor: reading one is refused as the guard refuses a staff route.
    app.get('/healthz', async (request) => ({ label: request.actor.label }));
    app.get('/api/lists', async (request) => ({ label: request.actor.label }));
    const anonymous = await app.inject({ method: 'GET', url: '/healthz' });
    expect([anonymous.statusCode, anonymous.headers['www-authenticate'], anonymous.json().error]).toEqual([
      401,
      'Bearer realm="presslift"',
      'unauthorized',
    ]);
    const guarded = await app.inject({ method: 'GET', url: '/api/lists' });
    expect(guarded.json()).toEqual(anonymous.json());
    const signedIn = await app.inject({
      method: 'GET',
      url: '/api/lists',
      headers: { authorization: `Bearer ${h.token}` },
    });
    expect(signedIn.json()).toEqual({ label: 'token:test-admin' });
    await app.close();
  });
});
