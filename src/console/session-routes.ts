import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { CSRF_COOKIE, SESSION_COOKIE, identify, requireCsrf } from '../api/auth';
import { HttpError, parse } from '../api/errors';
import { checkCredentials } from '../auth/credentials';
import { hashPassword, MIN_PASSWORD_LENGTH } from '../auth/password';
import { checkSetupToken } from '../auth/setup-link';
import type { Context } from '../context';
import { createFirstAdmin, hasAnyAccount } from '../db/accounts';
import { recordAudit } from '../db/audit';
import { createSession, endSession } from '../db/sessions';
import { emailAddress } from '../fields';
import { html, type Html } from './html';
import { bare } from './layout';

/**
 * Before sign-in there is no session to hold a CSRF token, so the sign-in and setup forms use a
 * signed double-submit token: a random cookie, and an HMAC of it in the form.
 */
const PRE_SESSION_COOKIE = 'presslift_presession';
export const LOGIN_ATTEMPTS_PER_MINUTE = 10;

const credentials = z.object({ email: emailAddress, password: z.string().min(1, 'enter your password').max(1000) });
const setupInput = z
  .object({
    token: z.string().min(1),
    email: emailAddress,
    password: z.string().min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`).max(1000),
    confirm: z.string(),
  })
  .refine((v) => v.password === v.confirm, { path: ['confirm'], message: 'the two passwords differ' });

/** Only our own console pages are valid places to return to after signing in. */
const safeNext = (next: unknown) => (typeof next === 'string' && /^\/console\/[\w\-/?=&%.]*$/.test(next) ? next : '/console/releases');

export function sessionRoutes(app: FastifyInstance, ctx: Context) {
  const { config, db, secret } = ctx;
  const secure = config.PUBLIC_URL.startsWith('https:');
  const cookieOptions = { path: '/', httpOnly: true, sameSite: 'strict' as const, secure };
  const sign = (value: string) => createHmac('sha256', secret).update(`presession.${value}`).digest('base64url');

  const preSessionToken = (request: FastifyRequest, reply: FastifyReply) => {
    let value = request.cookies[PRE_SESSION_COOKIE];
    if (!value) {
      value = randomBytes(18).toString('base64url');
      reply.setCookie(PRE_SESSION_COOKIE, value, { ...cookieOptions, maxAge: 3600 });
    }
    return sign(value);
  };
  const checkPreSession = (request: FastifyRequest) => {
    const value = request.cookies[PRE_SESSION_COOKIE];
    const given = Buffer.from(String((request.body as { _csrf?: unknown })?._csrf ?? ''));
    const expected = value ? Buffer.from(sign(value)) : Buffer.alloc(0);
    if (!value || given.length !== expected.length || !timingSafeEqual(given, expected)) {
      throw new HttpError(403, 'csrf_invalid', 'this form has expired; reload the page and try again');
    }
  };

  const startSession = async (reply: FastifyReply, accountId: number) => {
    const session = await createSession(db, accountId, config.SESSION_HOURS);
    reply.clearCookie(PRE_SESSION_COOKIE, { path: '/' });
    reply.setCookie(SESSION_COOKIE, session.token, { ...cookieOptions, expires: session.expiresAt });
    reply.setCookie(CSRF_COOKIE, session.csrfToken, { ...cookieOptions, httpOnly: false, expires: session.expiresAt });
  };

  const loginPage = (token: string, next: string, error?: string, email = '') =>
    bare('Sign in', html`
<h1>Sign in</h1>
<p class="muted">Staff console for embargoed press releases.</p>
${error ? html`<p class="alert alert-error" role="alert">${error}</p>` : ''}
<form method="post" action="/console/login" class="stack">
  <input type="hidden" name="_csrf" value="${token}"><input type="hidden" name="next" value="${next}">
  <label>Email<input type="email" name="email" value="${email}" autocomplete="username" required autofocus></label>
  <label>Password<input type="password" name="password" autocomplete="current-password" required></label>
  <button class="primary" type="submit">Sign in</button>
</form>`);

  app.get('/console/login', async (request, reply) => {
    if (await identify(db, request)) return reply.redirect('/console/releases');
    const next = safeNext((request.query as { next?: string }).next);
    return reply.type('text/html').send(loginPage(preSessionToken(request, reply), next));
  });

  app.post(
    '/console/login',
    {
      config: { rateLimit: { max: LOGIN_ATTEMPTS_PER_MINUTE, timeWindow: '1 minute' } },
      // A refusal (bad form, too many attempts) is shown on the sign-in page itself.
      errorHandler: (error, request, reply) => {
        const status = (error as { statusCode?: number }).statusCode ?? (error instanceof HttpError ? error.status : 500);
        if (status >= 500) throw error;
        const message = status === 429 ? 'Too many sign-in attempts from here. Wait a minute and try again.' : error.message;
        return reply.status(status).type('text/html').send(loginPage(preSessionToken(request, reply), '/console/releases', message));
      },
    },
    async (request, reply) => {
      checkPreSession(request);
      const body = request.body as Record<string, unknown>;
      const next = safeNext(body.next);
      const input = credentials.safeParse(body);
      const account = input.success ? await checkCredentials(db, input.data.email, input.data.password) : null;
      if (!account) {
        return reply.status(401).type('text/html')
          .send(loginPage(preSessionToken(request, reply), next, 'That email and password do not match an active account.', String(body.email ?? '')));
      }
      await startSession(reply, account.id);
      await recordAudit(db, { releaseId: null, actor: `account:${account.email}`, action: 'sign-in' });
      return reply.redirect(next, 303);
    },
  );

  app.post('/console/logout', async (request, reply) => {
    const actor = await identify(db, request);
    if (actor?.via === 'session') {
      requireCsrf(request, actor);
      await endSession(db, request.cookies[SESSION_COOKIE]!);
    }
    reply.clearCookie(SESSION_COOKIE, { path: '/' });
    reply.clearCookie(CSRF_COOKIE, { path: '/' });
    return reply.redirect('/console/login', 303);
  });

  const setupPage = (body: Html) => bare('Set up Presslift', body);
  const setupRefusal = async (token: string) => {
    if (await hasAnyAccount(db)) return 'This setup link has been used: an administrator account exists. Sign in instead.';
    const problem = checkSetupToken(secret, token);
    if (problem === 'expired') return 'This setup link has expired. Restart Presslift to print a new one.';
    if (problem) return 'This setup link is not valid. Copy the whole link printed by npm start.';
    return null;
  };
  const setupFormPage = (csrf: string, token: string, error?: string, email = '') => setupPage(html`
<h1>Create the first administrator</h1>
<p class="muted">This link works once. The account you create here can invite everyone else.</p>
${error ? html`<p class="alert alert-error" role="alert">${error}</p>` : ''}
<form method="post" action="/console/setup" class="stack">
  <input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="token" value="${token}">
  <label>Your email<input type="email" name="email" value="${email}" autocomplete="username" required></label>
  <label><span>Password <span class="muted">· at least ${MIN_PASSWORD_LENGTH} characters</span></span><input type="password" name="password" autocomplete="new-password" minlength="${MIN_PASSWORD_LENGTH}" required></label>
  <label>Password again<input type="password" name="confirm" autocomplete="new-password" required></label>
  <button class="primary" type="submit">Create administrator</button>
</form>`);

  app.get('/console/setup', async (request, reply) => {
    const token = String((request.query as { token?: string }).token ?? '');
    const refusal = await setupRefusal(token);
    reply.type('text/html');
    if (refusal) return reply.status(410).send(setupPage(html`<h1>Setup link</h1><p class="alert alert-error">${refusal}</p><p><a href="/console/login">Go to sign in</a></p>`));
    return reply.send(setupFormPage(preSessionToken(request, reply), token));
  });

  app.post('/console/setup', async (request, reply) => {
    checkPreSession(request);
    const body = request.body as Record<string, unknown>;
    const token = String(body.token ?? '');
    const refusal = await setupRefusal(token);
    reply.type('text/html');
    if (refusal) return reply.status(410).send(setupPage(html`<h1>Setup link</h1><p class="alert alert-error">${refusal}</p>`));
    let input: z.infer<typeof setupInput>;
    try {
      input = parse(setupInput, body);
    } catch (error) {
      return reply.status(400).send(setupFormPage(preSessionToken(request, reply), token, (error as Error).message, String(body.email ?? '')));
    }
    const created = await createFirstAdmin(db, input.email, await hashPassword(input.password));
    if (!created) return reply.status(410).send(setupPage(html`<h1>Setup link</h1><p class="alert alert-error">An administrator was created meanwhile. Sign in instead.</p>`));
    await recordAudit(db, { releaseId: null, actor: `account:${input.email}`, action: 'account.create', details: { email: input.email, role: 'admin', via: 'setup link' } });
    await startSession(reply, created.id);
    return reply.redirect('/console/releases', 303);
  });
}
