import type { FastifyInstance } from 'fastify';
import type { Context } from '../../context';
import { listAccounts } from '../../db/accounts';
import { MIN_PASSWORD_LENGTH } from '../../auth/password';
import { dateTime, formError } from '../components';
import { pageFor } from '../guard';
import { html } from '../html';
import { page } from '../layout';
import { tokenRows } from '../queries';

const roleSelect = html`<select name="role"><option value="editor">editor — releases, lists</option><option value="operator">operator — queues, retries</option><option value="admin">admin — everything</option></select>`;

export function accountPages(app: FastifyInstance, ctx: Context) {
  const admin = { preHandler: pageFor(ctx.db, 'admin') };

  app.get('/console/accounts', admin, async (request, reply) => {
    const [accounts, tokens] = await Promise.all([listAccounts(ctx.db), tokenRows(ctx.db)]);
    const me = request.actor!.accountId;
    const body = html`
<div class="page-head"><div><h1>Accounts &amp; API tokens</h1><p class="muted">People sign in to this console; automation uses tokens. Both appear by name in every audit entry.</p></div></div>
<div class="grid-2-1">
  <section class="card">
    <h2>Staff accounts</h2>
    <table class="table compact"><thead><tr><th>Email</th><th>Role</th><th>Last sign-in</th><th></th></tr></thead><tbody>
    ${accounts.map((a) => html`<tr class="${a.disabled ? 'disabled' : ''}"><td>${a.email}</td><td><span class="role role-${a.role}">${a.role}</span></td>
      <td>${a.lastLoginAt ? dateTime(new Date(a.lastLoginAt)) : html`<span class="muted">never</span>`}</td>
      <td>${a.disabled ? html`<span class="muted">disabled</span>` : a.id === me ? html`<span class="muted">you</span>`
        : html`<form class="api-form inline" data-method="POST" data-action="/api/accounts/${a.id}/disable" data-then="reload" data-confirm-text="Disable ${a.email}? They are signed out at once and cannot sign in again."><button class="link danger" type="submit">Disable</button>${formError}</form>`}</td></tr>`)}
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
    <table class="table compact"><thead><tr><th>Name</th><th>Role</th><th>Created</th><th>Last used</th><th></th></tr></thead><tbody>
    ${tokens.map((t) => html`<tr class="${t.revokedAt ? 'disabled' : ''}"><td>${t.name}</td><td><span class="role role-${t.role}">${t.role}</span></td><td>${dateTime(t.createdAt)}</td><td>${dateTime(t.lastUsedAt)}</td>
      <td>${t.revokedAt ? html`<span class="muted">revoked</span>` : html`<form class="api-form inline" data-method="DELETE" data-action="/api/tokens/${t.id}" data-then="reload" data-confirm-text="Revoke the token ${t.name}? Anything using it stops working at once."><button class="link danger" type="submit">Revoke</button>${formError}</form>`}</td></tr>`)}
    </tbody></table>
  </section>
  <section class="card">
    <h2>New token</h2>
    <form class="api-form stack" data-method="POST" data-action="/api/tokens" data-then="show-token">
      <label>What it is for<input name="name" required maxlength="120" placeholder="CMS integration"></label>
      <label>Role${roleSelect}</label>
      ${formError}
      <button class="primary" type="submit">Create token</button>
      <div class="token-once" data-token-output hidden><p><strong>Copy it now</strong> — it is shown once and only its hash is kept.</p><code data-token></code></div>
    </form>
  </section>
</div>`;
    return reply.type('text/html').send(page(request.actor!, 'accounts', 'Accounts & tokens', body));
  });
}
