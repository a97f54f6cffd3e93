import type { FastifyReply } from 'fastify';
import { CSRF_COOKIE, SESSION_COOKIE } from '../api/auth.js';
import type { Config } from '../config.js';
import type { Db } from '../db/index.js';
import type { SessionStage } from '../db/schema.js';
import { createSession } from '../db/sessions.js';

/** A sign-in waiting for its second factor lasts this long. */
export const PENDING_MINUTES = 10;
/** The cookie of the sign-in, setup and reset forms (a signed double-submit CSRF token). */
export const PRE_SESSION_COOKIE = 'presslift_presession';

export const cookieOptions = (config: Pick<Config, 'PUBLIC_URL'>) => ({
  path: '/',
  httpOnly: true,
  sameSite: 'strict' as const,
  secure: config.PUBLIC_URL.startsWith('https:'),
});

/**
 * Starts a session of the given stage in this browser and returns its CSRF token. A new cookie
 * every time, including when a pending sign-in becomes active or a password changes, so a cookie
 * planted or stolen before never becomes (or stays) a session.
 */
export async function startSession(
  reply: FastifyReply,
  db: Db,
  config: Pick<Config, 'PUBLIC_URL' | 'SESSION_HOURS'>,
  accountId: number,
  stage: SessionStage = 'active',
): Promise<string> {
  const session = await createSession(
    db,
    accountId,
    stage === 'active' ? config.SESSION_HOURS * 60 : PENDING_MINUTES,
    stage,
  );
  const options = { ...cookieOptions(config), expires: session.expiresAt };
  reply.clearCookie(PRE_SESSION_COOKIE, { path: '/' });
  reply.setCookie(SESSION_COOKIE, session.token, options);
  if (stage === 'active') reply.setCookie(CSRF_COOKIE, session.csrfToken, { ...options, httpOnly: false });
  return session.csrfToken;
}

export function clearSessionCookies(reply: FastifyReply): void {
  reply.clearCookie(SESSION_COOKIE, { path: '/' });
  reply.clearCookie(CSRF_COOKIE, { path: '/' });
}
