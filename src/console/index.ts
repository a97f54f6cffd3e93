import { readFileSync } from 'node:fs';
import formbody from '@fastify/formbody';
import type { FastifyInstance } from 'fastify';
import { errorHandler, HttpError } from '../api/errors.js';
import type { Context } from '../context.js';
import { html } from '../render/html.js';
import { bare } from './layout.js';
import { accountPage } from './pages/account.js';
import { accountPages } from './pages/accounts.js';
import { editorPages } from './pages/editor.js';
import { listPages } from './pages/lists.js';
import { peoplePages } from './pages/people.js';
import { operationsPages } from './pages/operations.js';
import { releasePages } from './pages/releases.js';
import { reportPage } from './pages/report.js';
import { sessionRoutes } from './session-routes.js';

const ASSETS: Record<string, string> = {
  'console.css': 'text/css; charset=utf-8',
  'console.js': 'text/javascript; charset=utf-8',
  'editor.js': 'text/javascript; charset=utf-8',
  'favicon.svg': 'image/svg+xml',
};

/** The console's static files, read once: a handful of small files need no static-file server. */
function assetRoutes(app: FastifyInstance) {
  const files = new Map(
    Object.keys(ASSETS).map((name) => [name, readFileSync(new URL(`./assets/${name}`, import.meta.url))]),
  );
  app.get<{ Params: { name: string } }>('/assets/:name', async (request, reply) => {
    const file = files.get(request.params.name);
    if (!file) return reply.callNotFound();
    return reply.type(ASSETS[request.params.name]!).header('Cache-Control', 'public, max-age=300').send(file);
  });
}

/**
 * The staff console: server-rendered pages under /console, its assets under /assets. Its own
 * scope parses HTML form posts (sign-in, sign-out, setup, preview); the JSON API stays JSON-only.
 */
export async function consoleRoutes(app: FastifyInstance, ctx: Context) {
  await app.register(async (scope) => {
    await scope.register(formbody);
    // A page that cannot be shown answers with a page; everything else keeps the API's error shape.
    scope.setErrorHandler((error, request, reply) => {
      const wantsPage = request.method === 'GET' && String(request.headers.accept ?? '').includes('text/html');
      if (!wantsPage || !(error instanceof HttpError)) return errorHandler(error as Error, request, reply);
      return reply
        .status(error.status)
        .type('text/html')
        .send(
          bare(
            'Not available',
            html`
<h1>${error.status === 404 ? 'Not found' : 'Not available'}</h1>
<p class="alert alert-error" role="alert">${error.message}.</p>
<p><a href="/console/releases">Back to releases</a></p>`,
          ),
        );
    });
    assetRoutes(scope);
    scope.get('/', async (_request, reply) => reply.redirect('/console/releases'));
    sessionRoutes(scope, ctx);
    releasePages(scope, ctx);
    reportPage(scope, ctx);
    editorPages(scope, ctx);
    listPages(scope, ctx);
    peoplePages(scope, ctx);
    accountPages(scope, ctx);
    accountPage(scope, ctx);
    operationsPages(scope, ctx);
  });
}
