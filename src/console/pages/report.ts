import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import { DELIVERY_STATES } from '../../states.js';
import { allows } from '../../api/auth.js';
import { notFound, parse } from '../../api/errors.js';
import type { Context } from '../../context.js';
import { releaseAudit } from '../../db/audit.js';
import { releaseChanges } from '../../db/changes.js';
import { releaseFileAccess } from '../../db/file-access.js';
import { listDeliveries } from '../../db/deliveries.js';
import { listNames } from '../../db/lists.js';
import { releaseFeedback } from '../../db/mail-events.js';
import { deliveryCounts, findRelease, releaseListIds } from '../../db/releases.js';
import type { Release } from '../../db/schema.js';
import { describeEmbargo } from '../../embargo/time.js';
import { idParam } from '../../fields.js';
import { releasePreviewHtml } from '../preview.js';
import { PREVIEW_CSP } from '../../api/security.js';
import { countdown, dateTime, formError, previewToggle, progressBar, statusBadge, toCounts } from '../components.js';
import {
  cancelMessage,
  journalists,
  liftMessage,
  retryMessage,
  scheduleMessage,
  shortWhen,
  unscheduleMessage,
} from '../confirm.js';
import { html, type Html } from '../../render/html.js';
import { page } from '../layout.js';
import { audienceSize } from '../../db/console-views.js';

const idParams = z.object({ id: idParam });

/** A button that opens a confirmation dialog, and the dialog whose form calls the JSON API. */
function confirmAction(
  key: string,
  label: string,
  tone: 'primary' | 'danger' | 'plain',
  message: string,
  action: string,
  reason = false,
): Html {
  return html`<button type="button" class="${tone}" data-open="dialog-${key}">${label}</button>
<dialog id="dialog-${key}" class="confirm">
  <form class="api-form" data-method="POST" data-action="${action}" data-then="reload">
    <h2>${label}?</h2>
    <p class="confirm-message" data-confirm-message>${message}</p>
    ${reason ? html`<label><span>Reason <span class="muted">· kept in the audit trail</span></span><input name="reason" required maxlength="500"></label>` : ''}
    ${formError}
    <div class="actions"><button type="button" class="plain" data-close>Keep as is</button><button type="submit" class="${tone}">${label}</button></div>
  </form>
</dialog>`;
}

/**
 * The release report: embargo, delivery progress, the email as sent, failures, audit trail, and the lifecycle actions.
 */
export function reportPage(app: FastifyInstance, ctx: Context) {
  const { db, config } = ctx;
  app.get('/console/releases/:id', async (request, reply) => {
    const { id } = parse(idParams, request.params, 'id');
    const release = await findRelease(db, id);
    if (!release) throw notFound(`release ${id}`);
    const [listIds, counts, audit, bounced, failed, skipped, feedback, changes, fileUses] = await Promise.all([
      releaseListIds(db, id),
      deliveryCounts(db, id),
      releaseAudit(db, id),
      listDeliveries(db, id, 'bounced', 0, 200),
      listDeliveries(db, id, 'failed', 0, 200),
      listDeliveries(db, id, 'skipped', 0, 200),
      releaseFeedback(db, id),
      releaseChanges(db, id),
      releaseFileAccess(db, id),
    ]);
    const lists = await listNames(db, listIds);
    const recipients =
      release.status === 'draft' || release.status === 'scheduled' ? await audienceSize(db, listIds) : null;
    const total = Object.values(counts).reduce((a, b) => a + b, 0);
    const embargo = describeEmbargo(release.embargo_at, release.embargo_time_zone, config.DISPLAY_TIME_ZONES);
    const actor = request.actor;
    // Buttons only for what the access table lets this person do (src/api/access.ts).
    const actions = releaseActions(release, recipients ?? 0, counts, allows(actor, 'editor'));

    const body = html`
<div class="page-head">
  <div>
    <p class="crumbs"><a href="/console/releases">Releases</a> / #${release.id}</p>
    <h1>${release.title}</h1>
    <p class="muted">${statusBadge(release.status)} · ${lists.map((l) => l.name).join(', ')} · by ${release.created_by.replace(/^account:/, '')}</p>
  </div>
  <div class="actions">${actions}</div>
</div>

<section class="grid-3" data-release-live="${release.id}" data-status="${release.status}">
  <div class="card stat">
    <h3>Embargo</h3>
    <div class="big">${embargo.local.text}</div>
    <div class="muted small">${embargo.utc.replace('T', ' ').slice(0, 16)} UTC · <span data-viewer-time="${embargo.utc}"></span></div>
    <ul class="zones">${embargo.displayZones.map((z) => html`<li><span>${z.timeZone.split('/').pop()!.replace(/_/g, ' ')}</span> ${z.text}</li>`)}</ul>
  </div>
  <div class="card stat">
    <h3>${release.status === 'scheduled' || release.status === 'draft' ? 'Lifts in' : 'Lifted'}</h3>
    <div class="big">${release.lifted_at ? dateTime(release.lifted_at) : countdown(release.embargo_at, release.status)}</div>
    ${release.lifted_at ? html`<div class="muted small">${liftTiming(release.lifted_at, release.embargo_at)}</div>` : ''}
    ${recipients !== null ? html`<div class="muted small">${journalists(recipients)} on the chosen lists now</div>` : ''}
  </div>
  <div class="card stat">
    <h3>Delivery</h3>
    <div class="big"><span data-count="sent">${counts.sent.toLocaleString('en-US')}</span> <span class="muted">of</span> <span data-count="total">${total.toLocaleString('en-US')}</span> sent</div>
    ${progressBar(toCounts(counts), total)}
    <dl class="counts">
      ${DELIVERY_STATES.map((s) => html`<div><dt><i class="dot dot-${s}"></i>${s}</dt><dd data-count="${s}">${counts[s].toLocaleString('en-US')}</dd></div>`)}
    </dl>
    <p class="muted small" data-feedback>Came back after sending: <strong data-feedback-count="bounced">${counts.bounced.toLocaleString('en-US')}</strong> bounced ·
      <strong data-feedback-count="complained">${feedback.complained.toLocaleString('en-US')}</strong> complained ·
      ${feedback.softBounced.toLocaleString('en-US')} delayed (soft bounces)</p>
  </div>
</section>

<section class="card">
  <div class="section-head"><h2>Email preview</h2>${previewToggle}</div>
  <p class="muted small">Exactly what the first journalist on its lists receives at the lift. Links and scripts are disabled here.</p>
  <div class="preview-stage"><iframe name="preview-frame" src="/console/releases/${release.id}/preview" class="preview-frame" width="640" height="860" sandbox title="Email preview"></iframe></div>
</section>

<section class="card">
  <div class="section-head"><h2>Bounced, failed and skipped deliveries</h2>
  ${
    counts.failed > 0 &&
    !release.deliveries_pruned_at &&
    (release.status === 'sent' || release.status === 'sending') &&
    allows(actor, 'operator')
      ? confirmAction(
          'retry',
          `Retry ${counts.failed} failed`,
          'primary',
          retryMessage(counts.failed),
          `/api/releases/${release.id}/retry`,
        )
      : ''
  }</div>
  ${
    release.deliveries_pruned_at
      ? html`<p class="muted">Delivery details were pruned on ${dateTime(release.deliveries_pruned_at)}, after DELIVERY_RETENTION_DAYS; the counts above are kept.</p>`
      : bounced.items.length + failed.items.length + skipped.items.length === 0
        ? html`<p class="muted">None${total === 0 ? ' yet' : ''}.</p>`
        : html`<table class="table compact"><thead><tr><th>Recipient</th><th>List</th><th>State</th><th>Attempts</th><th>SMTP reply / reason</th></tr></thead><tbody>
      ${[...bounced.items, ...failed.items, ...skipped.items].map(
        (
          d,
        ) => html`<tr><td>${d.email}${d.name ? html`<div class="muted small">${d.name}</div>` : ''}</td><td>${d.list}</td>
        <td><span class="pill pill-${d.state}">${d.state}</span></td><td>${d.attempts}</td><td><code class="reply">${d.lastError ?? ''}</code></td></tr>`,
      )}
    </tbody></table>`
  }
</section>

<section class="card">
  <div class="section-head"><h2>Notices and corrections</h2>
  ${release.status === 'sent' && allows(actor, 'editor') ? correctionDialog(release) : ''}</div>
  <p class="muted small">What the people who hold a copy were told when the release changed: one message each per change.</p>
  ${
    changes.length === 0
      ? html`<p class="muted">None.</p>`
      : html`<table class="table compact"><thead><tr><th>When</th><th>Change</th><th>Who</th><th>Note</th><th>Sent</th><th>Waiting</th><th>Skipped</th><th>Replaced by a later notice</th></tr></thead><tbody>
    ${changes.map(
      (
        c,
      ) => html`<tr><td>${dateTime(new Date(c.at))}</td><td><strong>${CHANGE_LABELS[c.kind]}</strong></td><td>${c.actor.replace(/^account:/, '')}</td><td>${c.note ?? ''}</td>
      <td>${c.counts.sent}</td><td>${c.counts.queued + c.counts.sending}</td><td>${c.counts.skipped + c.counts.failed}</td><td>${c.counts.cancelled}</td></tr>`,
    )}
  </tbody></table>`
  }
</section>

<section class="card">
  <h2>Who opened what before the lift</h2>
  <p class="muted small">Each advance reader's file links carry their own key; every use is listed here with whose key it was.</p>
  ${
    fileUses.length === 0
      ? html`<p class="muted">No file opened with a reader's key.</p>`
      : html`<table class="table compact"><thead><tr><th>When</th><th>File</th><th>Whose key</th><th>IP</th><th>Browser</th><th></th></tr></thead><tbody>
    ${fileUses.map(
      (
        u,
      ) => html`<tr><td>${dateTime(new Date(u.at))}</td><td>${u.file}</td><td>${u.email}${u.name || u.outlet ? html`<div class="muted small">${[u.name, u.outlet].filter(Boolean).join(' · ')}</div>` : ''}</td>
      <td><code>${u.ip ?? ''}</code></td><td class="small">${u.userAgent ?? ''}</td><td>${u.beforeLift ? html`<span class="pill pill-failed">before the lift</span>` : 'after the lift'}</td></tr>`,
    )}
  </tbody></table>`
  }
</section>

<section class="card">
  <h2>Audit trail</h2>
  <table class="table compact"><thead><tr><th>When</th><th>Who</th><th>What</th><th>Details</th></tr></thead><tbody>
  ${audit.map((a) => html`<tr><td>${dateTime(new Date(a.at))}</td><td>${a.actor}</td><td><strong>${a.action}</strong></td><td class="details">${auditDetails(a.details, release.embargo_time_zone)}</td></tr>`)}
  </tbody></table>
</section>`;
    return reply.type('text/html').send(page(actor, 'releases', release.title, body));
  });

  /** The stored email of the release as its first recipient gets it, under the preview's sandbox policy. */
  app.get('/console/releases/:id/preview', async (request, reply) => {
    const { id } = parse(idParams, request.params, 'id');
    const release = await findRelease(db, id);
    if (!release) throw notFound(`release ${id}`);
    return reply
      .header('Content-Security-Policy', PREVIEW_CSP)
      .header('Cache-Control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(await releasePreviewHtml(ctx, release));
  });
}

const CHANGE_LABELS = {
  moved: 'Embargo changed',
  lifted: 'Embargo lifted early',
  withdrawn: 'Withdrawn',
  corrected: 'Corrected under embargo',
  correction: 'Correction',
} as const;

/** The correction form of a sent release: a note (required) and the corrected text, sent to everyone who got it. */
function correctionDialog(release: Release): Html {
  return html`<button type="button" class="primary" data-open="dialog-correct">Send a correction</button>
<dialog id="dialog-correct" class="confirm">
  <form class="api-form" data-method="POST" data-action="/api/releases/${release.id}/corrections" data-then="reload">
    <h2>Send a correction?</h2>
    <p class="confirm-message">Everyone who was sent this release and is still subscribed gets a CORRECTION copy with your note at the top; the newsroom page shows a dated "Corrected" line.</p>
    <label><span>What changed <span class="muted">· shown at the top of the correction</span></span><input name="note" required maxlength="500"></label>
    <label><span>Corrected text</span><textarea name="body" rows="12">${release.body_md}</textarea></label>
    ${formError}
    <div class="actions"><button type="button" class="plain" data-close>Keep as is</button><button type="submit" class="primary">Send correction</button></div>
  </form>
</dialog>`;
}

/** How the lift related to the embargo: its lag, or that it was lifted early. */
function liftTiming(liftedAt: Date, embargoAt: Date): string {
  const lag = liftedAt.getTime() - embargoAt.getTime();
  if (lag >= 0) return `${lag.toLocaleString('en-US')} ms after the embargo instant`;
  const minutes = Math.round(-lag / 60_000);
  return `Lifted early, ${minutes >= 1 ? `${minutes.toLocaleString('en-US')} min` : `${Math.round(-lag / 1000)} s`} before the embargo`;
}

/** An audit entry's details in words: the reason, the embargo move, what changed; ids and versions left out. */
export function auditDetails(details: unknown, zone: string): string {
  if (!details || typeof details !== 'object') return '';
  const d = details as Record<string, unknown>;
  const when = (iso: unknown) => (typeof iso === 'string' ? shortWhen(new Date(iso), zone) : null);
  const parts: string[] = [];
  if (typeof d.reason === 'string') parts.push(`Reason: ${d.reason}`);
  const before = when(d.embargoBefore);
  const after = when(d.embargoAfter);
  if (before && after && before !== after) parts.push(`Embargo ${before} → ${after}`);
  else if (after) parts.push(`Embargo ${after}`);
  if (Array.isArray(d.fields)) parts.push(`Changed: ${d.fields.join(', ')}`);
  if (typeof d.deliveries === 'number') parts.push(`${d.deliveries} deliveries`);
  const known = new Set([
    'reason',
    'embargoBefore',
    'embargoAfter',
    'fields',
    'deliveries',
    'version',
    'timeZone',
    'sendAt',
  ]);
  for (const [key, value] of Object.entries(d))
    if (!known.has(key)) parts.push(`${key}: ${typeof value === 'string' ? value : JSON.stringify(value)}`);
  return parts.join(' · ');
}

/** The lifecycle buttons a release's state allows an editor; each confirms in words. */
function releaseActions(release: Release, recipients: number, counts: Record<string, number>, editor: boolean): Html[] {
  const { id, embargo_at: at, embargo_time_zone: zone } = release;
  const out: Html[] = [];
  if (editor && (release.status === 'draft' || release.status === 'scheduled')) {
    out.push(html`<a class="button plain" href="/console/releases/${id}/edit">Edit</a>`);
  }
  if (editor && release.status === 'draft')
    out.push(
      confirmAction(
        'schedule',
        'Schedule',
        'primary',
        scheduleMessage(recipients, at, zone),
        `/api/releases/${id}/schedule`,
      ),
    );
  if (editor && release.status === 'scheduled') {
    out.push(
      confirmAction('unschedule', 'Unschedule', 'plain', unscheduleMessage(at, zone), `/api/releases/${id}/unschedule`),
    );
  }
  if (editor && (release.status === 'draft' || release.status === 'scheduled')) {
    out.push(
      confirmAction('lift', 'Lift now', 'danger', liftMessage(recipients, at, zone), `/api/releases/${id}/lift`, true),
    );
  }
  if (editor && (release.status === 'scheduled' || release.status === 'sending')) {
    const waiting = (counts.queued ?? 0) + (counts.sending ?? 0);
    out.push(
      confirmAction(
        'cancel',
        'Cancel release',
        'danger',
        cancelMessage(release.status, waiting, counts.sent ?? 0, at, zone),
        `/api/releases/${id}/cancel`,
        true,
      ),
    );
  }
  return out;
}
