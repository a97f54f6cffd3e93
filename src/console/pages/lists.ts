import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { notFound, parse } from '../../api/errors.js';
import type { Context } from '../../context.js';
import type { SuppressionSource } from '../../db/schema.js';
import { findList, listLists } from '../../db/lists.js';
import { listHealth, type ListHealth } from '../../db/mail-events.js';
import { allows } from '../../api/auth.js';
import { dateTime, formError } from '../components.js';
import { html, type Html } from '../../render/html.js';
import { page } from '../layout.js';
import { listMembers } from '../../db/console-views.js';
import { suppressionList } from '../../db/subscribers.js';

const listParams = z.object({ id: z.coerce.number().int().positive() });

const percent = (rate: number) => `${(rate * 100).toFixed(rate > 0 && rate < 0.01 ? 2 : 1)}%`;

/** A list's bounce or complaint rate over 30 days, with its count; flagged past the warning level. */
function rateCell(count: number, rate: number, warnAt: number | null): Html {
  const flagged = warnAt !== null && rate > warnAt;
  return html`<td class="num${flagged ? ' text-failed' : ''}" ${flagged ? html`data-complaint-warning` : ''}>${percent(rate)} <span class="muted small">(${count.toLocaleString('en-US')})</span></td>`;
}

/** The warning Gmail and Yahoo would give, before they give it: a list whose complaints pass the level. */
function complaintWarning(health: ListHealth[], names: Map<number, string>, warnAt: number): Html {
  const over = health.filter((h) => h.complaintRate > warnAt);
  if (over.length === 0) return html``;
  return html`<div class="alert alert-error" role="alert" data-complaint-alert><strong>Complaint rate above ${percent(warnAt)}</strong> over the last 30 days:
    ${over.map((h, i) => html`${i > 0 ? ', ' : ''}${names.get(h.listId) ?? `#${h.listId}`} (${percent(h.complaintRate)})`)}.
    Mailbox providers throttle or block senders past 0.3%: check how these addresses were collected, and prune readers who no longer engage.</div>`;
}
const searchQuery = z.object({ q: z.string().max(200).default('') });

const SOURCE_LABELS: Record<SuppressionSource, string> = {
  smtp: 'refused while sending',
  dsn: 'bounce (DSN)',
  arf: 'complaint (ARF)',
  ses: 'Amazon SES',
  postmark: 'Postmark',
  mailgun: 'Mailgun',
  staff: 'staff',
  unrecorded: 'before sources were kept',
};

export function listPages(app: FastifyInstance, ctx: Context) {
  const { db } = ctx;
  const warnAt = ctx.config.COMPLAINT_RATE_WARNING;

  app.get('/console/lists', async (request, reply) => {
    const [lists, health] = await Promise.all([listLists(db), listHealth(db)]);
    const healthOf = new Map(health.map((h) => [h.listId, h]));
    const none: ListHealth = { listId: 0, attempted: 0, bounced: 0, complained: 0, bounceRate: 0, complaintRate: 0 };
    const body = html`
<div class="page-head"><div><h1>Lists</h1><p class="muted">Who receives what. Addresses that unsubscribed or are suppressed are never re-added.</p></div></div>
${complaintWarning(health, new Map(lists.map((l) => [l.id, l.name])), warnAt)}
<div class="grid-2-1">
  <section class="card">
    ${
      lists.length === 0
        ? html`<p class="muted">No lists yet.</p>`
        : html`<table class="table">
      <thead><tr><th>List</th><th class="num">Active journalists</th><th class="num" title="Bounced or refused, of the deliveries of the last 30 days">Bounces · 30 d</th><th class="num" title="Complaints, of the deliveries of the last 30 days">Complaints · 30 d</th><th>List-Id label</th></tr></thead>
      <tbody>${lists.map((l) => {
        const h = healthOf.get(l.id) ?? none;
        return html`<tr data-list-row="${l.id}"><td><a class="title-link" href="/console/lists/${l.id}">${l.name}</a></td><td class="num">${l.activeSubscribers.toLocaleString('en-US')}</td>
          ${rateCell(h.bounced, h.bounceRate, null)}${rateCell(h.complained, h.complaintRate, warnAt)}<td><code>${l.slug}</code></td></tr>`;
      })}</tbody>
    </table>`
    }
  </section>
  <section class="card">
    <h2>New list</h2>
    <form class="api-form stack" data-method="POST" data-action="/api/lists" data-then="/console/lists/{id}">
      <label>Name<input name="name" required maxlength="120" placeholder="Science desk"></label>
      ${formError}
      <button class="primary" type="submit">Create list</button>
    </form>
  </section>
</div>`;
    return reply.type('text/html').send(page(request.actor, 'lists', 'Lists', body));
  });

  app.get('/console/lists/:id', async (request, reply) => {
    const { id } = parse(listParams, request.params, 'id');
    const list = await findList(db, id);
    if (!list) throw notFound(`list ${id}`);
    const { q } = parse(searchQuery, request.query, 'query');
    const [members, health] = await Promise.all([listMembers(db, id, q.trim()), listHealth(db)]);
    const own = health.find((h) => h.listId === id);
    const body = html`
<div class="page-head"><div><p class="crumbs"><a href="/console/lists">Lists</a> / ${list.slug}</p><h1>${list.name}</h1>
  ${own ? html`<p class="muted" data-list-health>Last 30 days: ${own.attempted.toLocaleString('en-US')} deliveries · ${percent(own.bounceRate)} bounced · ${percent(own.complaintRate)} complained</p>` : ''}</div></div>
${own ? complaintWarning([own], new Map([[id, list.name]]), warnAt) : ''}
<div class="grid-2-1">
  <section class="card">
    <form class="search" method="get" action="/console/lists/${id}">
      <input type="search" name="q" value="${q}" placeholder="Search address, name or outlet" aria-label="Search subscribers">
      <button class="plain" type="submit">Search</button>
    </form>
    ${
      members.length === 0
        ? html`<p class="muted">${q ? 'Nobody matches.' : 'Nobody on this list yet: add someone or import a CSV.'}</p>`
        : html`
    <p class="muted small">Newest first${members.length === 200 ? html`; the first 200 shown, search to find anyone else` : ''}.</p>
    <table class="table compact" data-members>
      <thead><tr><th>Address</th><th>Name</th><th>Outlet</th><th>Status</th><th>Since</th><th></th></tr></thead>
      <tbody>${members.map(
        (m) => html`<tr><td>${m.email}</td><td>${m.name ?? ''}</td><td>${m.outlet ?? ''}</td>
        <td><span class="pill pill-${m.status}">${m.status}</span></td><td>${dateTime(m.subscribedAt)}</td>
        <td>${m.status === 'active' ? html`<form class="api-form inline" data-method="DELETE" data-action="/api/lists/${id}/subscribers/${m.id}" data-then="reload" data-confirm-text="Remove ${m.email} from ${list.name}? They will not receive future releases sent to this list."><button class="link danger" type="submit">Remove</button>${formError}</form>` : ''}</td></tr>`,
      )}</tbody>
    </table>
    ${members.length === 200 ? html`<p class="muted small">Showing the first 200; search to narrow down.</p>` : ''}`
    }
  </section>
  <div class="stack">
    <section class="card">
      <h2>Add a journalist</h2>
      <form class="api-form stack" data-method="POST" data-action="/api/lists/${id}/subscribers" data-then="reload">
        <label>Email<input type="email" name="email" required></label>
        <label>Name<input name="name" maxlength="200"></label>
        <label>Outlet<input name="outlet" maxlength="200"></label>
        ${formError}
        <button class="primary" type="submit">Add</button>
      </form>
    </section>
    <section class="card">
      <h2>Import CSV</h2>
      <p class="muted small">A header row with <code>email</code>, and optionally <code>name</code> and <code>outlet</code>. Good rows are added; each bad line is listed below.</p>
      <form class="stack" data-csv-import="/api/lists/${id}/subscribers/import">
        <input type="file" name="file" accept=".csv,text/csv" required aria-label="CSV file">
        ${formError}
        <button class="primary" type="submit">Import</button>
      </form>
      <div class="import-report" data-import-report hidden></div>
    </section>
  </div>
</div>`;
    return reply.type('text/html').send(page(request.actor, 'lists', list.name, body));
  });

  app.get('/console/suppressions', async (request, reply) => {
    const rows = await suppressionList(db, 500);
    const admin = allows(request.actor, 'admin');
    const body = html`
<div class="page-head"><div><h1>Suppression list</h1><p class="muted">Hard bounces, complaints and requests: these addresses are never mailed, on any list.</p></div></div>
<div class="grid-2-1">
  <section class="card">${
    rows.length === 0
      ? html`<p class="muted">Nobody is suppressed.</p>`
      : html`
    <table class="table compact"><thead><tr><th>Address</th><th>Reason</th><th>Source</th><th>Since</th>${admin ? html`<th></th>` : ''}</tr></thead>
    <tbody>${rows.map(
      (
        r,
      ) => html`<tr data-suppression="${r.email_key}"><td>${r.email_key}</td><td><code class="reply">${r.reason}</code></td><td><span class="pill pill-${r.source}">${SOURCE_LABELS[r.source]}</span></td><td>${dateTime(r.created_at)}</td>
      ${admin ? html`<td><form class="api-form inline" data-method="DELETE" data-action="/api/suppressions/${encodeURIComponent(r.email_key)}" data-then="reload" data-confirm-text="Lift the suppression of ${r.email_key}? They may be added to lists again, but are not re-subscribed to any list they left."><button class="link danger" type="submit">Remove</button>${formError}</form></td>` : ''}</tr>`,
    )}</tbody></table>`
  }
  </section>
  <section class="card">
    <h2>Suppress an address</h2>
    <form class="api-form stack" data-method="POST" data-action="/api/suppressions" data-then="reload">
      <label>Email<input type="email" name="email" required></label>
      <label>Reason<input name="reason" maxlength="200" value="asked not to be contacted"></label>
      ${formError}
      <button class="danger" type="submit">Suppress</button>
    </form>
  </section>
</div>`;
    return reply.type('text/html').send(page(request.actor, 'suppressions', 'Suppressions', body));
  });
}
