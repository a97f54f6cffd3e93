import type { FastifyInstance, FastifyReply } from 'fastify';
import { z } from 'zod';
import { secondFactorRequired, type Actor } from '../../api/auth.js';
import { hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from '../../auth/password.js';
import { codeStep, enrolment, hashRecoveryCode, newRecoveryCodes, newTotpSecret } from '../../auth/second-factor.js';
import { passwordStep, secondFactorStep } from '../../auth/sign-in.js';
import { ThrottledError } from '../../auth/throttle.js';
import type { Context } from '../../context.js';
import { changePassword, findActiveAccount } from '../../db/accounts.js';
import { recordAudit } from '../../db/audit.js';
import {
  disableTotp,
  enableTotp,
  replaceRecoveryCodes,
  setPendingTotp,
  totpSecrets,
  unusedRecoveryCodes,
} from '../../db/second-factor.js';
import { endAccountSessions } from '../../db/sessions.js';
import { html, type Html } from '../../render/html.js';
import { page } from '../layout.js';
import { clearSessionCookies, startSession } from '../session-cookies.js';
import { passwordFields } from '../session-routes.js';
import { enrolmentForm, recoveryCodesPanel } from '../two-factor.js';

const passwordChange = z
  .object({
    current: z.string().min(1, 'enter your current password').max(1000),
    password: z.string().min(MIN_PASSWORD_LENGTH, `must be at least ${MIN_PASSWORD_LENGTH} characters`).max(1000),
    confirm: z.string(),
  })
  .refine((v) => v.password === v.confirm, { path: ['confirm'], message: 'the two passwords differ' });
const codeInput = z.object({ code: z.string().trim().min(1, 'enter the code').max(100) });
const passwordInput = z.object({ password: z.string().min(1, 'enter your password').max(1000) });

/**
 * Your own account: password, second factor, recovery codes, signing out everywhere. Plain forms
 * that post back here and answer with the page, so they work without scripts. Every change is in
 * the audit log under the account's name.
 */
export function accountPage(app: FastifyInstance, ctx: Context) {
  const { config, db } = ctx;
  const audit = (actor: Actor, action: string) => recordAudit(db, { releaseId: null, actor: actor.label, action });
  const email = (actor: Actor) => actor.label.replace(/^account:/, '');

  const notice = (message?: { ok?: string; error?: string }) =>
    message?.ok
      ? html`<p class="alert alert-ok" role="status">${message.ok}</p>`
      : message?.error
        ? html`<p class="alert alert-error" role="alert">${message.error}</p>`
        : '';

  /** The page as it stands, with a message on top and, in place of the two-factor card, whatever a step shows. */
  const render = async (
    reply: FastifyReply,
    actor: Actor,
    options: { status?: number; message?: { ok?: string; error?: string }; twoFactor?: Html } = {},
  ) => {
    const account = (await findActiveAccount(db, actor.accountId!))!;
    const required = secondFactorRequired(config, actor.role);
    const twoFactor =
      options.twoFactor ??
      (account.totp_enabled_at
        ? html`<p>Two-factor sign-in is <strong>on</strong>. ${await unusedRecoveryCodes(db, account.id)} unused recovery codes left.</p>
<form method="post" action="/console/account/recovery-codes" class="stack"><input type="hidden" name="_csrf" value="${actor.csrfToken}">
  <label><span>New recovery codes <span class="muted">· the old ones stop working</span></span><input name="code" placeholder="Code from your authenticator" autocomplete="one-time-code" required></label>
  <button class="plain" type="submit">Make new recovery codes</button></form>
${
  required
    ? html`<p class="muted small">Your role must sign in with a second factor, so it cannot be turned off.</p>`
    : html`
<form method="post" action="/console/account/two-factor/disable" class="stack"><input type="hidden" name="_csrf" value="${actor.csrfToken}">
  <label>Turn it off<input type="password" name="password" placeholder="Your password" autocomplete="current-password" required></label>
  <button class="danger" type="submit">Turn off two-factor sign-in</button></form>`
}`
        : html`<p>Two-factor sign-in is <strong>off</strong>. With it, a stolen password alone opens nothing: signing in also needs a code from your phone.</p>
<form method="post" action="/console/account/two-factor/start"><input type="hidden" name="_csrf" value="${actor.csrfToken}"><button class="primary" type="submit">Set up two-factor sign-in</button></form>`);
    const body = html`
<div class="page-head"><div><h1>Your account</h1><p class="muted">${email(actor)} · ${actor.role}</p></div></div>
${notice(options.message)}
<div class="grid-2-1">
  <section class="card" data-two-factor>
    <h2>Two-factor sign-in</h2>
    ${twoFactor}
  </section>
  <div class="stack">
    <section class="card">
      <h2>Change password</h2>
      <form method="post" action="/console/account/password" class="stack">
        <input type="hidden" name="_csrf" value="${actor.csrfToken}">
        <label>Current password<input type="password" name="current" autocomplete="current-password" required></label>
        ${passwordFields()}
        <button class="primary" type="submit">Change password</button>
      </form>
      <p class="muted small">Every other session of your account is signed out.</p>
    </section>
    <section class="card">
      <h2>Sign out everywhere</h2>
      <p class="muted small">Ends every session of your account, on every device, this one included.</p>
      <form method="post" action="/console/account/sign-out-everywhere"><input type="hidden" name="_csrf" value="${actor.csrfToken}"><button class="danger" type="submit">Sign out everywhere</button></form>
    </section>
  </div>
</div>`;
    return reply
      .status(options.status ?? 200)
      .type('text/html; charset=utf-8')
      .send(page(actor, 'account', 'Your account', body));
  };
  const failure = (reply: FastifyReply, actor: Actor, error: unknown, status = 400) => {
    if (error instanceof ThrottledError)
      return render(reply, actor, {
        status: 429,
        message: { error: `Too many attempts: ${error.message.replace(/^too many attempts; /, '')}.` },
      });
    if (error instanceof z.ZodError)
      return render(reply, actor, {
        status,
        message: { error: `${error.issues[0]!.path.join('.') || 'form'}: ${error.issues[0]!.message}` },
      });
    throw error;
  };

  app.get('/console/account', async (request, reply) => render(reply, request.actor));

  /** A new password ends every session of the account; this browser gets a fresh one. */
  app.post('/console/account/password', async (request, reply) => {
    const actor = request.actor;
    try {
      const input = passwordChange.parse(request.body);
      if (!(await passwordStep(db, email(actor), input.current, request.ip))) {
        return render(reply, actor, { status: 401, message: { error: 'Your current password is not right.' } });
      }
      await changePassword(db, actor.accountId!, await hashPassword(input.password));
      await audit(actor, 'password.change');
      const fresh = await startSession(reply, db, config, actor.accountId!);
      return render(
        reply,
        { ...actor, csrfToken: fresh },
        { message: { ok: 'Your password is changed. Every other session of your account is signed out.' } },
      );
    } catch (error) {
      return failure(reply, actor, error);
    }
  });

  app.post('/console/account/sign-out-everywhere', async (request, reply) => {
    const actor = request.actor;
    await endAccountSessions(db, actor.accountId!);
    await audit(actor, 'sign-out-everywhere');
    clearSessionCookies(reply);
    return reply.redirect('/console/login', 303);
  });

  app.post('/console/account/two-factor/start', async (request, reply) => {
    const actor = request.actor;
    const secret = newTotpSecret();
    await setPendingTotp(db, actor.accountId!, secret);
    return render(reply, actor, {
      twoFactor: enrolmentForm({
        action: '/console/account/two-factor/confirm',
        csrf: actor.csrfToken!,
        ...(await enrolment(secret, email(actor))),
      }),
    });
  });

  app.post('/console/account/two-factor/confirm', async (request, reply) => {
    const actor = request.actor;
    const input = codeInput.safeParse(request.body ?? {});
    if (!input.success) return failure(reply, actor, input.error);
    const { code } = input.data;
    const { totp_pending_secret: secret } = await totpSecrets(db, actor.accountId!);
    if (!secret) return render(reply, actor, { status: 409, message: { error: 'Start the set-up again.' } });
    const step = codeStep(secret, code);
    const codes = newRecoveryCodes();
    if (step === null || !(await enableTotp(db, actor.accountId!, secret, step, codes.map(hashRecoveryCode)))) {
      const form = enrolmentForm({
        action: '/console/account/two-factor/confirm',
        csrf: actor.csrfToken!,
        ...(await enrolment(secret, email(actor))),
        error: 'That code does not match. Try the newest one.',
      });
      return render(reply, actor, { status: 400, twoFactor: form });
    }
    await audit(actor, 'two-factor.enable');
    const fresh = await startSession(reply, db, config, actor.accountId!);
    return render(
      reply,
      { ...actor, csrfToken: fresh },
      {
        message: { ok: 'Two-factor sign-in is on.' },
        twoFactor: recoveryCodesPanel(codes, html`<p><a class="button plain" href="/console/account">Done</a></p>`),
      },
    );
  });

  app.post('/console/account/two-factor/disable', async (request, reply) => {
    const actor = request.actor;
    try {
      if (secondFactorRequired(config, actor.role))
        return render(reply, actor, {
          status: 409,
          message: { error: 'Your role must sign in with a second factor.' },
        });
      const { password } = passwordInput.parse(request.body ?? {});
      const account = (await findActiveAccount(db, actor.accountId!))!;
      if (!(await verifyPassword(password, account.password_hash)))
        return render(reply, actor, { status: 401, message: { error: 'Your password is not right.' } });
      await disableTotp(db, actor.accountId!);
      await audit(actor, 'two-factor.disable');
      return render(reply, actor, { message: { ok: 'Two-factor sign-in is off.' } });
    } catch (error) {
      return failure(reply, actor, error);
    }
  });

  app.post('/console/account/recovery-codes', async (request, reply) => {
    const actor = request.actor;
    try {
      const { code } = codeInput.parse(request.body ?? {});
      if (!(await secondFactorStep(db, { accountId: actor.accountId!, email: email(actor) }, code, request.ip))) {
        return render(reply, actor, { status: 401, message: { error: 'That code does not match.' } });
      }
      const codes = newRecoveryCodes();
      await replaceRecoveryCodes(db, actor.accountId!, codes.map(hashRecoveryCode));
      await audit(actor, 'two-factor.recovery-codes');
      return render(reply, actor, {
        twoFactor: recoveryCodesPanel(codes, html`<p><a class="button plain" href="/console/account">Done</a></p>`),
      });
    } catch (error) {
      return failure(reply, actor, error);
    }
  });
}
