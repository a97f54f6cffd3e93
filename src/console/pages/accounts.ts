import type { FastifyInstance } from 'fastify';
import type { Context } from '../../context.js';
import { listAccounts } from '../../db/accounts.js';
import { listApiTokens } from '../../db/tokens.js';
import { MIN_PASSWORD_LENGTH } from '../../auth/password.js';
import { dateTime, formError } from '../components.js';
import { html } from '../../render/html.js';
import { page } from '../layout.js';

const roleSelect = html`<select name="role"><option value="editor">editor — releases, lists</option><option value="operator">operator — queues, retries, pause</option><option value="admin">admin — everything</option></select>`;

export function accountPages(app: FastifyInstance, ctx: Context) {
  app.get('/console/accounts', async (request, reply) => {
    const [accounts, tokens] = await Promise.all([listAccounts(ctx.db), listApiTokens(ctx.db)]);
    const me = request.actor.accountId;
    const now = new Date();
    const body = html`
<div class="page-head"><div><h1>Accounts &amp; API tokens</h1><p class="muted">People sign in to this console; automation uses tokens. Both appear by name in every audit entry.</p></div></div>
<div class="grid-2-1">
  <section class="card">
    <h2>Staff accounts</h2>
    <table class="table compact" data-accounts><thead><tr><th>Email</th><th>Role</th><th>Two-factor</th><th>Last sign-in</th><th></th></tr></thead><tbody>
    ${accounts.map(
      (
        a,
      ) => html`<tr class="${a.disabled ? 'disabled' : ''}"><td>${a.email}</td><td><span class="role role-${a.role}">${a.role}</span></td>
      <td>${
        a.twoFactor
          ? html`on <form class="api-form inline" data-method="DELETE" data-action="/api/accounts/${a.id}/two-factor" data-then="reload" data-confirm-text="Turn off the second factor of ${a.email}? Do this only for someone who lost their authenticator and recovery codes."><button class="link" type="submit">Reset</button>${formError}</form>`
          : html`<span class="muted">off</span>`
      }</td>
      <td>${a.lastLoginAt ? dateTime(new Date(a.lastLoginAt)) : html`<span class="muted">never</span>`}</td>
      <td>${
        a.disabled
          ? html`<form class="api-form inline" data-method="POST" data-action="/api/accounts/${a.id}/enable" data-then="reload" data-confirm-text="Let ${a.email} sign in again? Tokens revoked when the account was disabled stay revoked."><button class="link" type="submit">Enable</button>${formError}</form>`
          : a.id === me
            ? html`<span class="muted">you</span>`
            : html`<form class="api-form inline" data-method="POST" data-action="/api/accounts/${a.id}/disable" data-then="reload" data-confirm-text="Disable ${a.email}? They are signed out at once, cannot sign in again, and every API token they created is revoked."><button class="link danger" type="submit">Disable</button>${formError}</form>`
      }</td></tr>`,
    )}
    </tbody></table>
  </section>
  <section class="card">
    <h2>Add a person</h2>
    <form class="api-form stack" data-method="POST" data-action="/api/accounts" data-then="reload">
      <label>Email<input type="email" name="email" required autocomplete="off"></label>
      <label>Role${roleSelect}</label>
      <label><span>Initial password <span class="muted">· ${MIN_PASSWORD_LENGTH}+ characters, share it privately</span></span><input type="password" name="password" minlength="${MIN_PASSWORD_LENGTH}" required autocomplete="new-password"></label>
      ${formError}
      <button class="primary" type="submit">Create account</button>
    </form>
  </section>
  <section class="card">
    <h2>API tokens</h2>
    <table class="table compact" data-tokens><thead><tr><th>Name</th><th>Role</th><th>Owner</th><th>Expires</th><th>Last used</th><th></th></tr></thead><tbody>
    ${tokens.map((t) => {
      const expired = t.expiresAt !== null && t.expiresAt <= now;
      return html`<tr class="${t.revokedAt || expired ? 'disabled' : ''}"><td>${t.name}${t.bootstrap ? html` <span class="muted small">(first start)</span>` : ''}</td><td><span class="role role-${t.role}">${t.role}</span></td>
      <td>${t.owner ?? html`<span class="muted">${t.createdBy}</span>`}</td><td>${t.expiresAt ? dateTime(t.expiresAt) : html`<span class="muted">never</span>`}</td><td>${dateTime(t.lastUsedAt)}</td>
      <td>${t.revokedAt ? html`<span class="muted">revoked</span>` : expired ? html`<span class="muted">expired</span>` : html`<form class="api-form inline" data-method="DELETE" data-action="/api/tokens/${t.id}" data-then="reload" data-confirm-text="Revoke the token ${t.name}? Anything using it stops working at once."><button class="link danger" type="submit">Revoke</button>${formError}</form>`}</td></tr>`;
    })}
    </tbody></table>
  </section>
  <section class="card">
    <h2>New token</h2>
    <form class="api-form stack" data-method="POST" data-action="/api/tokens" data-then="show-token">
      <label>What it is for<input name="name" required maxlength="120" placeholder="CMS integration"></label>
      <label>Role${roleSelect}</label>
      <label>Expires<select name="expiresInDays"><option value="30">in 30 days</option><option value="90" selected>in 90 days</option><option value="365">in a year</option><option value="">never (until revoked)</option></select></label>
      <p class="muted small">It answers to your account: if your account is disabled, the token is revoked.</p>
      ${formError}
      <button class="primary" type="submit">Create token</button>
      <div class="token-once" data-token-output hidden><p><strong>Copy it now</strong> — it is shown once and only its hash is kept.</p><code data-token></code></div>
    </form>
  </section>
</div>`;
    return reply.type('text/html').send(page(request.actor, 'accounts', 'Accounts & tokens', body));
  });
}
