import type { FastifyInstance } from 'fastify';
import type { Context } from '../../context.js';
import { recentAlerts } from '../../db/alerts.js';
import { reconcileState } from '../../db/reconcile.js';
import { relayHealth } from '../../db/relay-health.js';
import { EVENT_TYPES } from '../../db/schema.js';
import { endpointDeliveries, webhookEndpoints } from '../../db/webhooks.js';
import { dateTime, formError } from '../components.js';
import { html } from '../../render/html.js';
import { page } from '../layout.js';

/** The operations page (what the standing sweep did, the relay, staff alerts) and the integrations page (admin). */
export function operationsPages(app: FastifyInstance, ctx: Context) {
  const { db, config } = ctx;

  app.get('/console/operations', async (request, reply) => {
    const [sweep, relay, alerts] = await Promise.all([reconcileState(db), relayHealth(db), recentAlerts(db)]);
    const channels = [
      config.ALERT_EMAILS ? `email to ${config.ALERT_EMAILS.join(', ')}` : null,
      config.ALERT_WEBHOOK_URL ? 'a chat webhook' : null,
    ].filter(Boolean);
    const body = html`
<div class="page-head"><div><h1>Operations</h1><p class="muted">Every ${config.RECONCILE_INTERVAL_SECONDS} s one worker checks Redis against PostgreSQL, restores what is missing and raises alerts.</p></div></div>
<div class="grid-2-1">
  <section class="card">
    <h2>Staff alerts</h2>
    <p class="muted small">${channels.length > 0 ? `Sent by ${channels.join(' and ')}, at most ${config.ALERT_MAX_PER_HOUR} an hour.` : 'No ALERT_EMAILS or ALERT_WEBHOOK_URL is set: alerts wait here.'}</p>
    <table class="table compact" data-alerts><thead><tr><th>Raised</th><th>Alert</th><th>State</th></tr></thead><tbody>
    ${alerts.length === 0 ? html`<tr><td colspan="3" class="muted">No alerts.</td></tr>` : ''}
    ${alerts.map(
      (a) => html`<tr><td>${dateTime(a.raised_at)}</td>
      <td>${a.release_id !== null ? html`<a href="/console/releases/${a.release_id}">${a.summary}</a>` : a.summary}${a.last_error ? html`<div class="muted small">${a.last_error}</div>` : ''}</td>
      <td>${a.state}</td></tr>`,
    )}
    </tbody></table>
  </section>
  <section class="card">
    <h2>Standing sweep</h2>
    <dl class="facts">
      <dt>Last successful sweep</dt><dd>${dateTime(sweep.last_success_at)}</dd>
      ${sweep.last_error ? html`<dt>Last failure</dt><dd>${dateTime(sweep.last_failure_at)}<div class="muted small">${sweep.last_error}</div></dd>` : ''}
      <dt>Deliveries without a job</dt><dd>${sweep.deliveries_without_job}</dd>
      <dt>Jobs restored since install</dt><dd>${sweep.restored_lift_jobs_total} lift, ${sweep.restored_send_jobs_total} send</dd>
    </dl>
    <h2>Mail relay</h2>
    <dl class="facts">
      <dt>Last accepted</dt><dd>${dateTime(relay.last_accepted_at)}</dd>
      <dt>Last refused</dt><dd>${dateTime(relay.last_refused_at)}</dd>
      <dt>Refusing since</dt><dd>${relay.refusing_since ? dateTime(relay.refusing_since) : html`<span class="muted">accepting</span>`}</dd>
    </dl>
  </section>
</div>`;
    return reply.type('text/html').send(page(request.actor, 'operations', 'Operations', body));
  });

  app.get('/console/webhooks', async (request, reply) => {
    const endpoints = await webhookEndpoints(db);
    const recent = await Promise.all(endpoints.map((e) => endpointDeliveries(db, e.id, 5)));
    const body = html`
<div class="page-head"><div><h1>Integration webhooks</h1><p class="muted">Release events POSTed to a CMS or a wire service, signed with <code>Presslift-Signature</code> and retried with backoff. Before the lift they carry ids only.</p></div></div>
<div class="grid-2-1">
  <section class="card">
    <h2>Endpoints</h2>
    <table class="table compact" data-webhooks><thead><tr><th>URL</th><th>Events</th><th>Last response</th><th></th></tr></thead><tbody>
    ${endpoints.length === 0 ? html`<tr><td colspan="4" class="muted">No endpoint yet.</td></tr>` : ''}
    ${endpoints.map(
      (
        e,
        i,
      ) => html`<tr data-endpoint="${e.id}"><td><code>${e.url}</code>${e.description ? html`<div class="muted small">${e.description}</div>` : ''}</td>
      <td class="small">${e.events.join(', ')}</td>
      <td>${e.last_status === null && !e.last_attempt_at ? html`<span class="muted">none yet</span>` : html`<strong data-last-status>${e.last_status ?? 'no answer'}</strong> ${dateTime(e.last_attempt_at)}<div class="muted small">${e.last_response ?? ''}</div>`}
        ${recent[i]!.length > 0 ? html`<details><summary class="small">Latest deliveries</summary><ul class="small">${recent[i]!.map((d) => html`<li>#${d.eventId} ${d.type}: ${d.state}, ${d.attempts} attempt${d.attempts === 1 ? '' : 's'}${d.lastStatus !== null ? `, ${d.lastStatus}` : ''}</li>`)}</ul></details>` : ''}</td>
      <td><form class="api-form inline" data-method="DELETE" data-action="/api/webhooks/${e.id}" data-then="reload" data-confirm-text="Stop sending events to ${e.url}?"><button class="link danger" type="submit">Remove</button>${formError}</form></td></tr>`,
    )}
    </tbody></table>
  </section>
  <section class="card">
    <h2>New endpoint</h2>
    <form class="api-form stack" data-method="POST" data-action="/api/webhooks" data-then="show-token" data-token-field="secret">
      <label>URL<input type="url" name="url" required maxlength="2000" placeholder="https://cms.example.org/hooks/presslift"></label>
      <label>Description<input name="description" maxlength="200" placeholder="Newsroom CMS"></label>
      <fieldset class="checks"><legend>Events</legend>${EVENT_TYPES.map((type) => html`<label class="check"><input type="checkbox" name="events" value="${type}" checked> ${type}</label>`)}</fieldset>
      ${formError}
      <button class="primary" type="submit">Add endpoint</button>
      <div class="token-once" data-token-output hidden><p><strong>Signing secret</strong> — copy it now, it is shown once. Verify each request's <code>Presslift-Signature</code> (HMAC-SHA256 of <code>t.body</code>) with it.</p><code data-token></code></div>
    </form>
  </section>
</div>`;
    return reply.type('text/html').send(page(request.actor, 'webhooks', 'Integration webhooks', body));
  });
}
