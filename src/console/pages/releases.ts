import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { allows } from '../../api/auth.js';
import { parse } from '../../api/errors.js';
import type { Context } from '../../context.js';
import { releasePageStart, RELEASES_PAGE } from '../../db/releases.js';
import { idParam } from '../../fields.js';
import { countdown, embargoCell, progressBar, statusBadge } from '../components.js';
import { html } from '../../render/html.js';
import { page } from '../layout.js';
import { releaseRows } from '../../db/console-views.js';

const pageQuery = z.object({ after: idParam.optional() });

/**
 * The releases list: what is scheduled, sending and sent, at a glance, a page at a time (the API's
 * page, which the live counts poll for).
 */
export function releasePages(app: FastifyInstance, ctx: Context) {
  const { db } = ctx;
  app.get('/console', async (_request, reply) => reply.redirect('/console/releases'));

  app.get('/console/releases', async (request, reply) => {
    const { after } = parse(pageQuery, request.query, 'query');
    const rows = await releaseRows(db, RELEASES_PAGE, await releasePageStart(db, after, 'after'));
    const last = rows.length === RELEASES_PAGE ? rows[rows.length - 1]!.id : null;
    const apiPage = `/api/releases?${new URLSearchParams({ limit: String(RELEASES_PAGE), ...(after ? { cursor: String(after) } : {}) })}`;
    const body = html`
<div class="page-head">
  <div><h1>Releases</h1><p class="muted">Embargo times in each release's zone; yours underneath.</p></div>
  ${allows(request.actor, 'editor') ? html`<a class="button primary" href="/console/releases/new">New release</a>` : ''}
</div>
${
  rows.length === 0 && !after
    ? html`<div class="empty"><h2>No releases yet</h2><p>Write one, choose its lists and embargo, and Presslift sends it at the instant.</p></div>`
    : html`<table class="table" data-release-page="${apiPage}">
<thead><tr><th>Release</th><th>Status</th><th>Embargo</th><th>Lifts in</th><th class="wide">Delivery</th></tr></thead>
<tbody>${rows.map(
        (r) => html`<tr data-release-row="${r.id}" data-release-status="${r.status}">
  <td><a class="title-link" href="/console/releases/${r.id}">${r.title}</a><div class="muted small">${r.lists.join(', ')}</div></td>
  <td>${statusBadge(r.status)}</td>
  <td>${embargoCell(r.embargoAt, r.zone)}</td>
  <td>${countdown(r.embargoAt, r.status)}</td>
  <td>${
    r.total > 0
      ? html`${progressBar({ sent: r.sent, bounced: r.bounced, failed: r.failed, skipped: r.skipped, cancelled: r.total - r.sent - r.bounced - r.failed - r.skipped - r.waiting, waiting: r.waiting, queued: 0, sending: 0 }, r.total)}
      <div class="small muted"><span data-count="sent">${r.sent.toLocaleString('en-US')}</span> of <span data-count="total">${r.total.toLocaleString('en-US')}</span> sent${r.failed ? html` · <span class="text-failed">${r.failed} failed</span>` : ''}</div>`
      : html`<span class="muted small">not lifted</span>`
  }</td>
</tr>`,
      )}</tbody></table>
${after || last ? html`<p>${after ? html`<a href="/console/releases">Newest</a> ` : ''}${last ? html`<a href="/console/releases?after=${last}" rel="next">Older releases</a>` : ''}</p>` : ''}`
}`;
    return reply.type('text/html').send(page(request.actor, 'releases', 'Releases', body));
  });
}
