import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { z } from 'zod';
import { csrfPasses, SESSION_COOKIE, identify, secondFactorRequired, type PendingSignIn } from '../api/auth.js';
import { parse } from '../api/errors.js';
import { hashPassword, MIN_PASSWORD_LENGTH } from '../auth/password.js';
import { enrolment, hashRecoveryCode, newRecoveryCodes, newTotpSecret, codeStep } from '../auth/second-factor.js';
import { passwordStep, secondFactorStep, signedIn } from '../auth/sign-in.js';
import { LIMITS, spend, ThrottledError } from '../auth/throttle.js';
import { checkSetupToken } from '../auth/setup-link.js';
import type { Context } from '../context.js';
import { changePassword, createFirstAdmin, findActiveAccountByEmail, hasAnyAccount } from '../db/accounts.js';
import { recordAudit } from '../db/audit.js';
import { createPasswordReset, findPasswordReset, usePasswordReset } from '../db/password-resets.js';
import { enableTotp, setPendingTotp, totpSecrets } from '../db/second-factor.js';
import { endSession, findSession } from '../db/sessions.js';
import type { SessionStage } from '../db/schema.js';
import type { Role } from '../states.js';
import { emailAddress } from '../fields.js';
import { messageSettings } from '../mail/message.js';
import { serviceMessage } from '../mail/service-mail.js';
import { randomToken } from '../signing.js';
import { html, type Html } from '../render/html.js';
import { bare } from './layout.js';
import { clearSessionCookies, cookieOptions, PRE_SESSION_COOKIE, startSession } from './session-cookies.js';
import { enrolmentForm, recoveryCodesPanel } from './two-factor.js';

export const PASSWORD_RESET_MINUTES = 60;

const credentials = z.object({ email: emailAddress, password: z.string().min(1, 'enter your password').max(1000) });
const newPassword = z
  .object({
    password: z.string().min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`).max(1000),
    confirm: z.string(),
  })
  .refine((v) => v.password === v.confirm, { path: ['confirm'], message: 'the two passwords differ' });
const setupInput = z.object({ token: z.string().min(1), email: emailAddress }).and(newPassword);
const codeInput = z.object({ code: z.string().trim().min(1, 'enter the code').max(100) });

/** Only our own console pages are valid places to return to after signing in. */
const safeNext = (next: unknown) =>
  typeof next === 'string' && /^\/console\/[\w\-/?=&%.]*$/.test(next) ? next : '/console/releases';

/** Where an account that just proved its password goes: straight in, to its code, or to enrol one. */
export function stageAfterPassword(
  config: Context['config'],
  account: { role: Role; totp_enabled_at: Date | null },
): SessionStage {
  if (account.totp_enabled_at) return 'second-factor';
  return secondFactorRequired(config, account.role) ? 'enrol' : 'active';
}

export function sessionRoutes(app: FastifyInstance, ctx: Context) {
  const { config, db, keys } = ctx;
  const audit = (actor: string, action: string, details: Record<string, unknown> = {}) =>
    recordAudit(db, { releaseId: null, actor, action, details });

  /**
   * Before sign-in there is no session to hold a CSRF token, so the sign-in, setup and reset forms
   * use a signed double-submit token: a random cookie, and a signature of it in the form.
   */
  const preSessionToken = (request: FastifyRequest, reply: FastifyReply) => {
    let value = request.cookies[PRE_SESSION_COOKIE];
    if (!value) {
      value = randomToken(18);
      reply.setCookie(PRE_SESSION_COOKIE, value, { ...cookieOptions(config), maxAge: 3600 });
    }
    return keys.sign('presession', value);
  };
  const preSessionValid = (request: FastifyRequest) => {
    const value = request.cookies[PRE_SESSION_COOKIE];
    const given = String((request.body as { _csrf?: unknown })?._csrf ?? '');
    return value !== undefined && keys.verify('presession', value, given);
  };

  const start = (reply: FastifyReply, accountId: number, stage: SessionStage) =>
    startSession(reply, db, config, accountId, stage);
  const endThisSession = async (request: FastifyRequest, reply: FastifyReply) => {
    const cookie = request.cookies[SESSION_COOKIE];
    if (cookie) await endSession(db, cookie);
    clearSessionCookies(reply);
  };

  const send = (reply: FastifyReply, status: number, title: string, body: Html) =>
    reply
      .status(status)
      .header('Referrer-Policy', 'no-referrer')
      .type('text/html; charset=utf-8')
      .send(bare(title, body));
  const errorLine = (error?: string) => (error ? html`<p class="alert alert-error" role="alert">${error}</p>` : '');
  const throttledMessage = (error: ThrottledError) =>
    `Too many attempts. Wait and try again: ${error.message.replace(/^too many attempts; /, '')}.`;

  // ---- Sign-in: password, then the second factor when the account has or owes one. --------------------

  const loginPage = (token: string, next: string, error?: string, email = '') => html`
<h1>Sign in</h1>
<p class="muted">Staff console for embargoed press releases.</p>
${errorLine(error)}
<form method="post" action="/console/login" class="stack">
  <input type="hidden" name="_csrf" value="${token}"><input type="hidden" name="next" value="${next}">
  <label>Email<input type="email" name="email" value="${email}" autocomplete="username" required autofocus></label>
  <label>Password<input type="password" name="password" autocomplete="current-password" required></label>
  <button class="primary" type="submit">Sign in</button>
</form>
<p class="small"><a href="/console/reset">Forgot your password?</a></p>`;

  app.get('/console/login', async (request, reply) => {
    if (await identify(ctx, request)) return reply.redirect('/console/releases');
    const next = safeNext((request.query as { next?: string }).next);
    return send(reply, 200, 'Sign in', loginPage(preSessionToken(request, reply), next));
  });

  app.post('/console/login', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const next = safeNext(body.next);
    const again = (status: number, error: string) =>
      send(reply, status, 'Sign in', loginPage(preSessionToken(request, reply), next, error, String(body.email ?? '')));
    if (!preSessionValid(request)) return again(403, 'This form has expired; please try again.');
    const input = credentials.safeParse(body);
    if (!input.success) return again(400, input.error.issues[0]!.message);
    let account;
    try {
      account = await passwordStep(db, input.data.email, input.data.password, request.ip);
    } catch (error) {
      if (error instanceof ThrottledError) return again(429, throttledMessage(error));
      throw error;
    }
    if (!account) return again(401, 'That email and password do not match an active account.');
    const stage = stageAfterPassword(config, account);
    await start(reply, account.id, stage);
    if (stage !== 'active') return reply.redirect(`/console/login/two-factor?next=${encodeURIComponent(next)}`, 303);
    await signedIn(db, account.email);
    await audit(`account:${account.email}`, 'sign-in');
    return reply.redirect(next, 303);
  });

  /** The second step: a code (or recovery code), or, when REQUIRE_2FA asks and none is set up yet, enrolling one. */
  const secondStepPage = async (pending: PendingSignIn, next: string, error?: string): Promise<Html> => {
    const action = `/console/login/two-factor?next=${encodeURIComponent(next)}`;
    if (pending.stage === 'enrol') {
      let { totp_pending_secret: secret } = await totpSecrets(db, pending.accountId);
      if (!secret) await setPendingTotp(db, pending.accountId, (secret = newTotpSecret()));
      return html`<h1>Set up two-factor sign-in</h1>
<p class="muted">Your ${pending.role} account must sign in with a second factor.</p>
${enrolmentForm({ action, csrf: pending.csrfToken, ...(await enrolment(secret, pending.email)), error })}`;
    }
    return html`<h1>Two-factor sign-in</h1>
${errorLine(error)}
<form method="post" action="${action}" class="stack">
  <input type="hidden" name="_csrf" value="${pending.csrfToken}">
  <label><span>Code <span class="muted">· from your authenticator app, or a recovery code</span></span><input name="code" autocomplete="one-time-code" required autofocus></label>
  <button class="primary" type="submit">Continue</button>
</form>
<form method="post" action="/console/logout"><input type="hidden" name="_csrf" value="${pending.csrfToken}"><button class="link" type="submit">Cancel</button></form>`;
  };

  app.get('/console/login/two-factor', async (request, reply) => {
    const next = safeNext((request.query as { next?: string }).next);
    return send(reply, 200, 'Two-factor sign-in', await secondStepPage(request.pendingSignIn!, next));
  });

  app.post('/console/login/two-factor', async (request, reply) => {
    const pending = request.pendingSignIn!;
    const next = safeNext((request.query as { next?: string }).next);
    const again = async (status: number, error: string) =>
      send(reply, status, 'Two-factor sign-in', await secondStepPage(pending, next, error));
    const input = codeInput.safeParse(request.body);
    if (!input.success) return again(400, input.error.issues[0]!.message);
    try {
      if (pending.stage === 'enrol') {
        const { totp_pending_secret: secret } = await totpSecrets(db, pending.accountId);
        await spend(db, `sign-in:address:${request.ip}`, LIMITS.signInPerAddress);
        const step = secret ? codeStep(secret, input.data.code) : null;
        const codes = newRecoveryCodes();
        if (step === null || !(await enableTotp(db, pending.accountId, secret!, step, codes.map(hashRecoveryCode)))) {
          return again(401, 'That code does not match. Check the time on your phone and try the newest code.');
        }
        // Enabling ended every session of the account, this pending one included.
        await start(reply, pending.accountId, 'active');
        await signedIn(db, pending.email);
        await audit(`account:${pending.email}`, 'two-factor.enable');
        await audit(`account:${pending.email}`, 'sign-in', { secondFactor: 'code' });
        return send(
          reply,
          200,
          'Recovery codes',
          html`<h1>Two-factor sign-in is on</h1>${recoveryCodesPanel(codes, html`<p><a class="button primary" href="${next}">Continue</a></p>`)}`,
        );
      }
      const proven = await secondFactorStep(db, pending, input.data.code, request.ip);
      if (!proven) return again(401, 'That code does not match.');
      await endThisSession(request, reply);
      await start(reply, pending.accountId, 'active');
      await signedIn(db, pending.email);
      await audit(`account:${pending.email}`, 'sign-in', { secondFactor: proven });
      return reply.redirect(next, 303);
    } catch (error) {
      if (error instanceof ThrottledError) return again(429, throttledMessage(error));
      throw error;
    }
  });

  /** Ends this browser's session, whatever its stage. */
  app.post('/console/logout', async (request, reply) => {
    const cookie = request.cookies[SESSION_COOKIE];
    const session = cookie ? await findSession(db, cookie) : null;
    if (session && !csrfPasses(request, session.csrfToken)) {
      return send(
        reply,
        403,
        'Sign out',
        html`<h1>Sign out</h1><p class="alert alert-error">This form has expired; reload the page and try again.</p>`,
      );
    }
    await endThisSession(request, reply);
    return reply.redirect('/console/login', 303);
  });

  // ---- First start: the setup link creates the first administrator. ------------------------------------

  const setupRefusal = async (token: string) => {
    if (await hasAnyAccount(db))
      return 'This setup link has been used: an administrator account exists. Sign in instead.';
    const problem = checkSetupToken(keys, token);
    if (problem === 'expired') return 'This setup link has expired. Restart Presslift to print a new one.';
    if (problem) return 'This setup link is not valid. Copy the whole link printed by npm start.';
    return null;
  };
  const setupFormPage = (csrf: string, token: string, error?: string, email = '') => html`
<h1>Create the first administrator</h1>
<p class="muted">This link works once. The account you create here can invite everyone else.</p>
${errorLine(error)}
<form method="post" action="/console/setup" class="stack">
  <input type="hidden" name="_csrf" value="${csrf}"><input type="hidden" name="token" value="${token}">
  <label>Your email<input type="email" name="email" value="${email}" autocomplete="username" required></label>
  ${passwordFields()}
  <button class="primary" type="submit">Create administrator</button>
</form>`;
  const refusedSetup = (reply: FastifyReply, refusal: string) =>
    send(
      reply,
      410,
      'Set up Presslift',
      html`<h1>Setup link</h1><p class="alert alert-error">${refusal}</p><p><a href="/console/login">Go to sign in</a></p>`,
    );

  app.get('/console/setup', async (request, reply) => {
    const token = String((request.query as { token?: string }).token ?? '');
    const refusal = await setupRefusal(token);
    if (refusal) return refusedSetup(reply, refusal);
    return send(reply, 200, 'Set up Presslift', setupFormPage(preSessionToken(request, reply), token));
  });

  app.post('/console/setup', async (request, reply) => {
    const body = (request.body ?? {}) as Record<string, unknown>;
    const token = String(body.token ?? '');
    if (!preSessionValid(request))
      return send(
        reply,
        403,
        'Set up Presslift',
        setupFormPage(preSessionToken(request, reply), token, 'This form has expired; please try again.'),
      );
    const refusal = await setupRefusal(token);
    if (refusal) return refusedSetup(reply, refusal);
    let input: z.infer<typeof setupInput>;
    try {
      input = parse(setupInput, body);
    } catch (error) {
      return send(
        reply,
        400,
        'Set up Presslift',
        setupFormPage(preSessionToken(request, reply), token, (error as Error).message, String(body.email ?? '')),
      );
    }
    const created = await createFirstAdmin(db, input.email, await hashPassword(input.password));
    if (!created) return refusedSetup(reply, 'An administrator was created meanwhile. Sign in instead.');
    await audit(`account:${input.email}`, 'account.create', { email: input.email, role: 'admin', via: 'setup link' });
    const stage = stageAfterPassword(config, { role: 'admin', totp_enabled_at: null });
    await start(reply, created.id, stage);
    return reply.redirect(stage === 'active' ? '/console/releases' : '/console/login/two-factor', 303);
  });

  // ---- A forgotten password: a one-time link by email. ---------------------------------------------------

  const resetRequestPage = (csrf: string, error?: string) => html`
<h1>Reset your password</h1>
<p class="muted">We will email a link to set a new password. It works once, for ${PASSWORD_RESET_MINUTES} minutes.</p>
${errorLine(error)}
<form method="post" action="/console/reset" class="stack">
  <input type="hidden" name="_csrf" value="${csrf}">
  <label>Email<input type="email" name="email" autocomplete="username" required autofocus></label>
  <button class="primary" type="submit">Email me a link</button>
</form>
<p class="small"><a href="/console/login">Back to sign in</a></p>`;

  app.get('/console/reset', async (request, reply) =>
    send(reply, 200, 'Reset your password', resetRequestPage(preSessionToken(request, reply))),
  );

  /** Answers alike whether or not the address has an account, so the form tells nobody who works here. */
  app.post('/console/reset', async (request, reply) => {
    if (!preSessionValid(request))
      return send(
        reply,
        403,
        'Reset your password',
        resetRequestPage(preSessionToken(request, reply), 'This form has expired; please try again.'),
      );
    const input = z.object({ email: emailAddress }).safeParse(request.body);
    if (!input.success)
      return send(
        reply,
        400,
        'Reset your password',
        resetRequestPage(preSessionToken(request, reply), `email: ${input.error.issues[0]!.message}`),
      );
    try {
      await spend(db, `reset:address:${request.ip}`, LIMITS.resetRequestsPerAddress);
    } catch (error) {
      if (error instanceof ThrottledError)
        return send(
          reply,
          429,
          'Reset your password',
          resetRequestPage(preSessionToken(request, reply), throttledMessage(error)),
        );
      throw error;
    }
    const account = await findActiveAccountByEmail(db, input.data.email);
    if (account) await mailResetLink(account);
    return send(
      reply,
      200,
      'Check your inbox',
      html`<h1>Check your inbox</h1>
<p>If <strong>${input.data.email}</strong> has a Presslift account, a link to set a new password is on its way. It works once, for ${PASSWORD_RESET_MINUTES} minutes.</p>
<p class="small"><a href="/console/login">Back to sign in</a></p>`,
    );
  });

  const mailResetLink = async (account: { id: number; email: string }) => {
    try {
      await spend(db, `reset:account:${account.id}`, LIMITS.resetEmailsPerAccount);
    } catch (error) {
      if (error instanceof ThrottledError) return; // enough links are on their way already
      throw error;
    }
    const token = await createPasswordReset(db, account.id, PASSWORD_RESET_MINUTES);
    await app.mailer().send(
      await serviceMessage(messageSettings(config, keys), {
        to: account.email,
        subject: 'Reset your Presslift password',
        text:
          `Someone, we hope you, asked to reset the password of your Presslift account (${account.email}).\n\n` +
          `To choose a new one, open this link within ${PASSWORD_RESET_MINUTES} minutes. It works once:\n${config.PUBLIC_URL}/console/reset/${token}\n\n` +
          'If it was not you, ignore this message: your password stays as it is. Signing in still asks for your second factor if you have one.\n',
      }),
    );
    await audit(`account:${account.email}`, 'password.reset-requested');
  };

  const resetFormPage = (csrf: string, token: string, email: string, error?: string) => html`
<h1>Choose a new password</h1>
<p class="muted">For ${email}. Every session of this account is signed out when you save it.</p>
${errorLine(error)}
<form method="post" action="/console/reset/${token}" class="stack">
  <input type="hidden" name="_csrf" value="${csrf}">
  ${passwordFields()}
  <button class="primary" type="submit">Save the new password</button>
</form>`;
  const deadLink = (reply: FastifyReply) =>
    send(
      reply,
      410,
      'Reset your password',
      html`<h1>This link does not work</h1><p class="alert alert-error">It has expired or has been used.</p><p><a href="/console/reset">Ask for a new link</a></p>`,
    );

  app.get<{ Params: { token: string } }>('/console/reset/:token', async (request, reply) => {
    const reset = await findPasswordReset(db, request.params.token);
    if (!reset) return deadLink(reply);
    return send(
      reply,
      200,
      'Choose a new password',
      resetFormPage(preSessionToken(request, reply), request.params.token, reset.email),
    );
  });

  app.post<{ Params: { token: string } }>('/console/reset/:token', async (request, reply) => {
    const { token } = request.params;
    const reset = await findPasswordReset(db, token);
    if (!reset) return deadLink(reply);
    if (!preSessionValid(request))
      return send(
        reply,
        403,
        'Choose a new password',
        resetFormPage(preSessionToken(request, reply), token, reset.email, 'This form has expired; please try again.'),
      );
    const input = newPassword.safeParse(request.body);
    if (!input.success) {
      const issue = input.error.issues[0]!;
      return send(
        reply,
        400,
        'Choose a new password',
        resetFormPage(preSessionToken(request, reply), token, reset.email, `${issue.path.join('.')}: ${issue.message}`),
      );
    }
    const hash = await hashPassword(input.data.password);
    const accountId = await usePasswordReset(db, token);
    if (accountId === null) return deadLink(reply);
    await changePassword(db, accountId, hash);
    await audit(`account:${reset.email}`, 'password.reset');
    return send(
      reply,
      200,
      'Password changed',
      html`<h1>Your password is changed</h1><p>Every session of ${reset.email} has been signed out.</p><p><a class="button primary" href="/console/login">Sign in</a></p>`,
    );
  });
}

/** The new-password pair every form that sets one uses. */
export const passwordFields = () => html`
  <label><span>New password <span class="muted">· at least ${MIN_PASSWORD_LENGTH} characters</span></span><input type="password" name="password" autocomplete="new-password" minlength="${MIN_PASSWORD_LENGTH}" required></label>
  <label>New password again<input type="password" name="confirm" autocomplete="new-password" required></label>`;
