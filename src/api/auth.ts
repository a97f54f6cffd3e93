import { timingSafeEqual } from 'node:crypto';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { Db } from '../db';
import type { Role } from '../db/schema';
import { findSession } from '../db/sessions';
import { findApiToken } from '../db/tokens';
import { HttpError } from './errors';

/** The console's session cookie (HttpOnly, SameSite=Strict; set in src/console/session-routes.ts). */
export const SESSION_COOKIE = 'presslift_session';
/**
 * The session's CSRF token in a cookie scripts of our own origin can read, under the name axios
 * (which Bull Board's UI uses) echoes back as X-XSRF-TOKEN on same-origin requests.
 */
export const CSRF_COOKIE = 'XSRF-TOKEN';

export interface Actor {
  /** How the audit log names who did it: "account:ada@example.org" or "token:ci-bot". */
  label: string;
  role: Role;
  /** A signed-in person (cookie session) or automation (bearer token). */
  via: 'session' | 'token';
  /** The session's synchronizer token, which pages put in their forms; absent for tokens. */
  csrfToken?: string;
  accountId?: number;
}

declare module 'fastify' {
  interface FastifyRequest {
    actor?: Actor;
  }
}

/** Admins may do everything; editors and operators only what their role names. */
export function allows(actor: Actor, role: Role): boolean {
  return actor.role === 'admin' || actor.role === role;
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

function sameToken(given: unknown, expected: string): boolean {
  if (typeof given !== 'string') return false;
  const a = Buffer.from(given);
  const b = Buffer.from(expected);
  return a.length === b.length && timingSafeEqual(a, b);
}

/**
 * A cookie is sent by the browser on its own, so a state-changing request made with one must also
 * carry the session's synchronizer token (header X-CSRF-Token or X-XSRF-Token, or form field
 * _csrf), which only our own origin can read. A bearer token is never sent implicitly, so it needs none.
 */
export function requireCsrf(request: FastifyRequest, actor: Actor): void {
  if (SAFE_METHODS.has(request.method) || actor.via !== 'session') return;
  const body = request.body as { _csrf?: unknown } | undefined;
  const given = request.headers['x-csrf-token'] ?? request.headers['x-xsrf-token'] ?? (body && typeof body === 'object' ? body._csrf : undefined);
  if (!sameToken(given, actor.csrfToken!)) {
    throw new HttpError(403, 'csrf_invalid', 'this request did not come from a Presslift page; reload the page and try again');
  }
}

/** Who is asking: a bearer API token, or else the console session cookie; null when neither is valid. */
export async function identify(db: Db, request: FastifyRequest): Promise<Actor | null> {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) {
    const found = await findApiToken(db, header.slice(7).trim());
    return found ? { label: `token:${found.name}`, role: found.role, via: 'token' } : null;
  }
  const cookie = request.cookies?.[SESSION_COOKIE];
  if (!cookie) return null;
  const session = await findSession(db, cookie);
  return session
    ? { label: `account:${session.email}`, role: session.role, via: 'session', csrfToken: session.csrfToken, accountId: session.accountId }
    : null;
}

/** A preHandler that resolves a session or a token into `request.actor` (401 without one; CSRF checked). */
function authenticate(db: Db) {
  return async (request: FastifyRequest, _reply: FastifyReply) => {
    const actor = await identify(db, request);
    if (!actor) throw new HttpError(401, 'unauthorized', 'sign in, or send Authorization: Bearer <token>');
    requireCsrf(request, actor);
    request.actor = actor;
  };
}

/** A preHandler that requires a signed-in account or a valid API token of (one of) the given roles. */
export function requireRole(db: Db, ...roles: Role[]) {
  const signedIn = authenticate(db);
  return async (request: FastifyRequest, reply: FastifyReply) => {
    await signedIn(request, reply);
    if (!roles.some((role) => allows(request.actor!, role))) {
      throw new HttpError(403, 'forbidden', `this needs the ${roles.join(' or ')} role`);
    }
  };
}
