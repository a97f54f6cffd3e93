import type { FastifyRequest } from 'fastify';
import type { Config } from '../config.js';
import type { Db } from '../db/index.js';
import type { Role } from '../states.js';
import { findSession, type Session } from '../db/sessions.js';
import { findApiToken } from '../db/tokens.js';
import { sameSecret } from '../signing.js';

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
  /** The signed-in account, or the account that owns the token. */
  accountId?: number;
}

/** A sign-in whose password was right and whose second factor (a code, or enrolling one) is still owed. */
export interface PendingSignIn {
  accountId: number;
  email: string;
  role: Role;
  stage: 'second-factor' | 'enrol';
  csrfToken: string;
}

declare module 'fastify' {
  interface FastifyRequest {
    /** Who the guard found asking (src/api/guard.ts), or null: a route anyone may call, or the metrics token. */
    signedIn: Actor | null;
    /**
     * The signed-in actor, on every route the access table keeps for staff. Read where nobody
     * signed in, it throws the 401 the guard gives, so a handler never needs a non-null assertion.
     */
    readonly actor: Actor;
    pendingSignIn?: PendingSignIn;
  }
}

export interface AuthContext {
  db: Db;
  config: Pick<Config, 'REQUIRE_2FA'>;
}

/** Admins may do everything; editors and operators only what their role names. */
export function allows(actor: Actor, role: Role): boolean {
  return actor.role === 'admin' || actor.role === role;
}

/** Whether REQUIRE_2FA asks this role for a second factor at sign-in. */
export function secondFactorRequired(config: Pick<Config, 'REQUIRE_2FA'>, role: Role): boolean {
  return config.REQUIRE_2FA === 'all' || (config.REQUIRE_2FA === 'admin' && role === 'admin');
}

const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS']);

/**
 * A cookie is sent by the browser on its own, so a state-changing request made with one must also
 * carry the session's synchronizer token (header X-CSRF-Token or X-XSRF-Token, or form field
 * _csrf), which only our own origin can read. A bearer token is never sent implicitly, so it needs none.
 */
export function csrfPasses(request: FastifyRequest, csrfToken: string | undefined): boolean {
  if (SAFE_METHODS.has(request.method) || csrfToken === undefined) return true;
  const body = request.body as { _csrf?: unknown } | undefined;
  const given =
    request.headers['x-csrf-token'] ??
    request.headers['x-xsrf-token'] ??
    (body && typeof body === 'object' ? body._csrf : undefined);
  return typeof given === 'string' && sameSecret(given, csrfToken);
}

async function sessionOf(db: Db, request: FastifyRequest): Promise<Session | null> {
  const cookie = request.cookies?.[SESSION_COOKIE];
  return cookie ? findSession(db, cookie) : null;
}

/**
 * Who is asking: a live bearer API token, or else a full console session; null when neither.
 * A session of an account that REQUIRE_2FA covers but that has no second factor yet does not
 * count: signing in again takes the person to enrolment.
 */
export async function identify(ctx: AuthContext, request: FastifyRequest): Promise<Actor | null> {
  const header = request.headers.authorization;
  if (header?.startsWith('Bearer ')) {
    const found = await findApiToken(ctx.db, header.slice(7).trim());
    return found
      ? { label: `token:${found.name}`, role: found.role, via: 'token', accountId: found.ownerAccountId ?? undefined }
      : null;
  }
  const session = await sessionOf(ctx.db, request);
  if (!session || session.stage !== 'active') return null;
  if (secondFactorRequired(ctx.config, session.role) && !session.twoFactor) return null;
  return {
    label: `account:${session.email}`,
    role: session.role,
    via: 'session',
    csrfToken: session.csrfToken,
    accountId: session.accountId,
  };
}

/** The sign-in in progress that this browser's cookie names, if any. */
export async function pendingSignIn(ctx: AuthContext, request: FastifyRequest): Promise<PendingSignIn | null> {
  const session = await sessionOf(ctx.db, request);
  if (!session || session.stage === 'active') return null;
  return {
    accountId: session.accountId,
    email: session.email,
    role: session.role,
    stage: session.stage,
    csrfToken: session.csrfToken,
  };
}
