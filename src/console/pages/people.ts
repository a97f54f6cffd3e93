import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { parse } from '../../api/errors.js';
import type { Context } from '../../context.js';
import { listLists } from '../../db/lists.js';
import { searchSubscribers } from '../../db/people.js';
import { accessRequests } from '../../db/vetting.js';
import { idParam } from '../../fields.js';
import { dateTime, formError } from '../components.js';
import { html } from '../../render/html.js';
import { page } from '../layout.js';

const PAGE_SIZE = 50;
const searchQuery = z.object({
  q: z.string().max(200).default(''),
  list: z.union([z.literal(''), idParam]).default(''),
  after: z.coerce.number().int().min(0).default(0),
});

/** The staff's view of people: search with keyset pages, export and erasure, and the access-request queue. */
export function peoplePages(app: FastifyInstance, ctx: Context) {
  const { db } = ctx;

  app.get('/console/subscribers', async (request, reply) => {
    const { q, list, after } = parse(searchQuery, request.query, 'query');
    const [lists, found] = await Promise.all([
      listLists(db),
      searchSubscribers(db, { query: q.trim(), listId: list === '' ? null : list, after, limit: PAGE_SIZE }),
    ]);
    const next =
      found.nextCursor === null
        ? null
        : `/console/subscribers?${new URLSearchParams({ q, list: String(list), after: String(found.nextCursor) })}`;
    const body = html`
<div class="page-head"><div><h1>People</h1><p class="muted">Every subscriber, on any list. Export what is held on someone, or erase them: a hashed tombstone keeps a suppression in force.</p></div></div>
<section class="card">
  <form class="search" method="get" action="/console/subscribers">
    <label class="sr-only" for="people-q">Search</label><input id="people-q" type="search" name="q" value="${q}" placeholder="Address, name or outlet">
    <label class="sr-only" for="people-list">List</label><select id="people-list" name="list"><option value="">All lists</option>
      ${lists.map((l) => html`<option value="${l.id}" ${list === l.id ? 'selected' : ''}>${l.name}</option>`)}</select>
    <button class="plain" type="submit">Search</button>
  </form>
  ${
    found.items.length === 0
      ? html`<p class="muted">Nobody matches.</p>`
      : html`
  <table class="table compact" data-people>
    <thead><tr><th>Address</th><th>Name</th><th>Outlet</th><th>Since</th><th><span class="sr-only">Actions</span></th></tr></thead>
    <tbody>${found.items.map(
      (
        s,
      ) => html`<tr data-subscriber="${s.id}"><td>${s.email}</td><td>${s.name ?? ''}</td><td>${s.outlet ?? ''}</td><td>${dateTime(s.createdAt)}</td>
      <td class="actions"><a href="/api/subscribers/${s.id}/export" download>Export</a>
        <form class="api-form inline" data-method="DELETE" data-action="/api/subscribers/${s.id}" data-then="reload" data-confirm-text="Erase ${s.email}? Their name and address are removed everywhere; deliveries stay as anonymous counts. This cannot be undone."><button class="link danger" type="submit">Erase</button>${formError}</form></td></tr>`,
    )}</tbody>
  </table>
  ${next ? html`<p><a href="${next}" rel="next">Next ${PAGE_SIZE}</a></p>` : ''}`
  }
</section>`;
    return reply.type('text/html').send(page(request.actor!, 'subscribers', 'People', body));
  });

  app.get('/console/access-requests', async (request, reply) => {
    const [pending, decided, lists] = await Promise.all([
      accessRequests(db, 'pending'),
      accessRequests(db, 'approved', 20),
      listLists(db),
    ]);
    const body = html`
<div class="page-head"><div><h1>Access requests</h1><p class="muted">Journalists applying for advance copies. Check that they work for the outlet they name; approval adds them to the advance lists you choose, and they are told either way.</p></div></div>
${
  pending.length === 0
    ? html`<section class="card"><p class="muted">No applications are waiting.</p></section>`
    : pending.map(
        (r) => html`
<section class="card" data-access-request="${r.id}">
  <h2>${r.name ?? r.email} <span class="muted small">${r.role}, ${r.outlet}</span></h2>
  <dl class="facts">
    <dt>Subscribed as</dt><dd>${r.email}</dd>
    <dt>Work address</dt><dd>${r.workEmail}</dd>
    <dt>Published work</dt><dd><ul>${r.links.map((l) => html`<li><a href="${l}" rel="noreferrer noopener" target="_blank">${l}</a></li>`)}</ul></dd>
    <dt>Embargo terms</dt><dd>accepted, version ${r.termsVersion}</dd>
    <dt>Applied</dt><dd>${dateTime(r.createdAt)}</dd>
  </dl>
  <form class="api-form stack" data-method="POST" data-action="/api/access-requests/${r.id}/decision" data-then="reload">
    <fieldset><legend>Advance lists to add them to</legend>
      ${lists.map((l) => html`<label class="check"><input type="checkbox" name="listIds" value="${l.id}"> ${l.name}</label>`)}</fieldset>
    <label>Note to the applicant<textarea name="note" rows="2" maxlength="1000"></textarea></label>
    ${formError}
    <div class="row"><button class="primary" type="submit" name="decision" value="approve">Approve</button>
      <button class="plain" type="submit" name="decision" value="refuse">Refuse</button></div>
  </form>
</section>`,
      )
}
${
  decided.length === 0
    ? ''
    : html`<section class="card"><h2>Recently approved</h2><table class="table compact"><thead><tr><th>Journalist</th><th>Outlet</th><th>By</th><th>When</th></tr></thead>
  <tbody>${decided.map((r) => html`<tr><td>${r.name ?? r.email}</td><td>${r.outlet}</td><td>${r.decidedBy ?? ''}</td><td>${dateTime(r.decidedAt)}</td></tr>`)}</tbody></table></section>`
}`;
    return reply.type('text/html').send(page(request.actor!, 'access', 'Access requests', body));
  });
}
