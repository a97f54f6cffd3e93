import type {
  FastifyInstance,
  FastifyReply,
  FastifyRequest,
  RouteOptions,
  onRequestHookHandler,
  preValidationHookHandler,
} from 'fastify';
import type { Role } from '../states.js';
import { sameSecret } from '../signing.js';
import { accessOf, roleAllowed, type Access } from './access.js';
import { HttpError } from './errors.js';
import { allows, csrfPasses, identify, pendingSignIn, type Actor, type AuthContext } from './auth.js';

export interface GuardOptions extends AuthContext {
  metricsToken?: string;
  /** The HTML a person signed in without the right role sees instead of a console page. */
  refusalPage(actor: Actor, roles: Role[]): string;
  /** The HTML shown when a console form arrives without its CSRF token. */
  expiredFormPage(): string;
}

export interface RegisteredRoute {
  method: string;
  url: string;
  access: Access;
}

declare module 'fastify' {
  interface FastifyInstance {
    /** Every route registered, with the access rule its guard enforces (the access test walks it). */
    registeredRoutes: RegisteredRoute[];
  }
}

const json = (reply: FastifyReply, status: number, error: string, message: string) =>
  reply.status(status).header('Cache-Control', 'no-store').send({ error, message, details: {} });

const CHALLENGE = 'Bearer realm="presslift"';
const SIGN_IN = 'sign in, or send Authorization: Bearer <token>';
const unauthorized = (reply: FastifyReply) =>
  json(reply.header('WWW-Authenticate', CHALLENGE), 401, 'unauthorized', SIGN_IN);
const forbidden = (reply: FastifyReply, roles: Role[]) =>
  json(reply, 403, 'forbidden', `this needs the ${roles.join(' or ')} role`);
/** To the sign-in page, and back here afterwards (a form that was posted comes back to the console's home). */
const toSignIn = (request: FastifyRequest, reply: FastifyReply) =>
  reply.redirect(
    `/console/login?next=${encodeURIComponent(request.method === 'GET' ? request.url : '/console')}`,
    request.method === 'GET' ? 302 : 303,
  );

/** The hooks that enforce one rule: who is asking and their role before the body is read; the CSRF token after. */
function hooksFor(
  access: Access,
  options: GuardOptions,
): { onRequest?: onRequestHookHandler; preValidation?: preValidationHookHandler } {
  const csrf: preValidationHookHandler = async (request, reply) => {
    const token = request.signedIn?.via === 'session' ? request.signedIn.csrfToken : request.pendingSignIn?.csrfToken;
    if (csrfPasses(request, token)) return;
    if (access.kind === 'api' || access.kind === 'metrics') {
      return json(
        reply,
        403,
        'csrf_invalid',
        'this request did not come from a Presslift page; reload the page and try again',
      );
    }
    return reply
      .status(403)
      .header('Cache-Control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(options.expiredFormPage());
  };
  const staff = (roles: Role[]) => async (request: FastifyRequest, reply: FastifyReply) => {
    const actor = await identify(options, request);
    if (!actor) return unauthorized(reply);
    if (!roleAllowed({ roles }, actor.role)) return forbidden(reply, roles);
    request.signedIn = actor;
  };

  switch (access.kind) {
    case 'anyone':
      return {};
    case 'api':
      return { onRequest: staff(access.roles), preValidation: csrf };
    case 'metrics': {
      const operator = staff(['operator']);
      return {
        onRequest: async (request, reply) => {
          const header = request.headers.authorization;
          if (options.metricsToken && header !== undefined && sameSecret(header, `Bearer ${options.metricsToken}`))
            return;
          return operator(request, reply);
        },
        preValidation: csrf,
      };
    }
    case 'page':
      return {
        onRequest: async (request, reply) => {
          const actor = await identify(options, request);
          // Pages are for people: only a session opens them, never an API token.
          if (!actor || actor.via !== 'session') return toSignIn(request, reply);
          if (!access.roles.some((role) => allows(actor, role))) {
            return reply
              .status(403)
              .header('Cache-Control', 'no-store')
              .type('text/html; charset=utf-8')
              .send(options.refusalPage(actor, access.roles));
          }
          request.signedIn = actor;
        },
        preValidation: csrf,
      };
    case 'signing-in':
      return {
        onRequest: async (request, reply) => {
          const pending = await pendingSignIn(options, request);
          if (!pending) return toSignIn(request, reply);
          request.pendingSignIn = pending;
        },
        preValidation: csrf,
      };
  }
}

const asArray = <T>(hooks: T | T[] | undefined): T[] =>
  hooks === undefined ? [] : Array.isArray(hooks) ? hooks : [hooks];

/**
 * Gives every route its guard from the access table as Fastify registers it, first among its
 * hooks, and refuses to start with a route the table does not name. Call before any route is added.
 */
export function enforceAccess(app: FastifyInstance, options: GuardOptions): void {
  const registered: RegisteredRoute[] = [];
  app.decorate('registeredRoutes', registered);
  app.decorateRequest('signedIn', null);
  app.decorateRequest('actor', {
    getter(this: FastifyRequest): Actor {
      if (this.signedIn) return this.signedIn;
      throw new HttpError(
        401,
        'unauthorized',
        SIGN_IN,
        {},
        { 'WWW-Authenticate': CHALLENGE, 'Cache-Control': 'no-store' },
      );
    },
  });
  app.addHook('onRoute', (route: RouteOptions) => {
    const methods = [route.method].flat();
    const rules = methods.map((method) => accessOf(method, route.url));
    const missing = methods.filter((_, i) => !rules[i]);
    if (missing.length > 0)
      throw new Error(`${missing.join(',')} ${route.url} is not in the access table (src/api/access.ts)`);
    const access = rules[0]!;
    if (rules.some((rule) => JSON.stringify(rule) !== JSON.stringify(access)))
      throw new Error(`${methods.join(',')} ${route.url}: one route, several access rules`);
    registered.push(...methods.map((method) => ({ method, url: route.url, access })));
    const hooks = hooksFor(access, options);
    if (hooks.onRequest) route.onRequest = [hooks.onRequest, ...asArray(route.onRequest)];
    if (hooks.preValidation) route.preValidation = [hooks.preValidation, ...asArray(route.preValidation)];
  });
}
