import type { FastifyInstance } from 'fastify';
import { DateTime } from 'luxon';
import { z } from 'zod';
import type { Actor } from '../../api/auth.js';
import { HttpError, notFound, parse } from '../../api/errors.js';
import type { Context } from '../../context.js';
import { listLists } from '../../db/lists.js';
import { findRelease, releaseListIds } from '../../db/releases.js';
import type { Release } from '../../db/schema.js';
import { describeEmbargo, resolveEmbargo } from '../../embargo/time.js';
import { idParam } from '../../fields.js';
import { formError, previewToggle } from '../components.js';
import { rescheduleMessage, scheduleMessage } from '../confirm.js';
import { html } from '../../render/html.js';
import { page } from '../layout.js';
import { previewHtml } from '../preview.js';
import { audienceSize } from '../../db/console-views.js';
import { PREVIEW_CSP } from '../../api/security.js';

const idParams = z.object({ id: idParam });
/** "1,2,3" from a query string or form field. */
const idList = z.preprocess(
  (raw) => (typeof raw === 'string' ? raw.split(',').filter(Boolean) : (raw ?? [])),
  z.array(idParam).max(100, 'choose at most 100 lists'),
);

const embargoQuery = z.object({
  local: z.string().min(1, 'choose a date and time'),
  timeZone: z.string().min(1, 'choose a time zone'),
  offset: z
    .string()
    .optional()
    .transform((v) => v || undefined),
  listIds: idList,
  releaseId: idParam.optional(),
});

const previewForm = z.object({
  title: z.string().max(300).default(''),
  summary: z.string().max(2000).default(''),
  body: z.string().default(''),
  local: z.string().default(''),
  offset: z.string().optional(),
  timeZone: z.string().default('UTC'),
  listIds: idList,
});

function zoneOptions(displayZones: string[]): string[] {
  const all = Intl.supportedValuesOf('timeZone');
  return [...new Set(['UTC', ...displayZones, ...all])];
}

export function editorPages(app: FastifyInstance, ctx: Context) {
  const { db, config } = ctx;
  const zones = zoneOptions(config.DISPLAY_TIME_ZONES);

  const render = async (actor: Actor, release: Release | null) => {
    const lists = await listLists(db);
    const chosen = new Set(release ? await releaseListIds(db, release.id) : []);
    const zone = release?.embargo_time_zone ?? config.DISPLAY_TIME_ZONES[0] ?? 'UTC';
    const local = release
      ? DateTime.fromJSDate(release.embargo_at, { zone })
      : DateTime.now().setZone(zone).plus({ days: 1 }).set({ hour: 0, minute: 1, second: 0, millisecond: 0 });
    const title = release ? `Edit: ${release.title}` : 'New release';
    const body = html`
<div class="page-head">
  <div><p class="crumbs"><a href="/console/releases">Releases</a> / ${release ? html`<a href="/console/releases/${release.id}">#${release.id}</a>` : 'new'}</p><h1>${title}</h1></div>
</div>
<div class="editor">
<form id="release-form" class="card stack" data-release-id="${release?.id ?? ''}" data-release-status="${release?.status ?? 'new'}" novalidate>
  <label>Headline<input name="title" value="${release?.title ?? ''}" maxlength="300" required placeholder="New sensor maps brain activity without surgery"></label>
  <label><span>Summary <span class="muted">· optional, shown under the headline</span></span><textarea name="summary" rows="2" maxlength="2000">${release?.summary ?? ''}</textarea></label>
  <label><span>Body <span class="muted">· Markdown</span></span><textarea name="body" class="mono" rows="16" required>${release?.body_md ?? ''}</textarea></label>

  <fieldset class="embargo">
    <legend>Embargo</legend>
    <div class="row">
      <label>Date<input type="date" name="date" value="${local.toFormat('yyyy-MM-dd')}" required></label>
      <label>Time<input type="time" name="time" step="1" value="${local.toFormat('HH:mm:ss')}" required></label>
      <label class="grow">Time zone<select name="timeZone">${zones.map((z) => html`<option ${z === zone ? html`selected` : ''}>${z}</option>`)}</select></label>
    </div>
    <details class="offset">
      <summary>Time falls in the hour the clocks go back?</summary>
      <label><span>UTC offset <span class="muted">· picks one of the two, e.g. -04:00 or -05:00</span></span><input name="offset" placeholder="-04:00" pattern="[+-][0-9]{2}:[0-9]{2}" size="8"></label>
    </details>
    <div class="embargo-check" data-embargo-check aria-live="polite"></div>
  </fieldset>

  <fieldset>
    <legend>Send to</legend>
    ${lists.length === 0 ? html`<p class="muted">No lists yet. <a href="/console/lists">Create one</a> first.</p>` : ''}
    <div class="checks">${lists.map((l) => html`<label class="check"><input type="checkbox" name="listIds" value="${l.id}" ${chosen.has(l.id) ? html`checked` : ''}> ${l.name} <span class="muted">${l.activeSubscribers.toLocaleString('en-US')} journalists</span></label>`)}</div>
    <p class="audience" data-audience></p>
  </fieldset>
  ${formError}
  <div class="actions">
    <button type="button" class="plain" data-save>${release ? 'Save changes' : 'Save draft'}</button>
    ${!release || release.status === 'draft' ? html`<button type="button" class="primary" data-schedule>Schedule…</button>` : ''}
  </div>
  <dialog id="dialog-schedule" class="confirm">
    <h2>${release?.status === 'scheduled' ? 'Reschedule?' : 'Schedule?'}</h2>
    <p class="confirm-message" data-confirm-message></p>
    ${formError}
    <div class="actions"><button type="button" class="plain" data-close>Not yet</button><button type="button" class="primary" data-confirm>Confirm</button></div>
  </dialog>
</form>
<section class="card preview-pane">
  <div class="section-head"><h2>Preview</h2>${previewToggle}</div>
  <p class="muted small">As the first journalist on the chosen lists will see it. Links and scripts are disabled here.</p>
  <div class="preview-stage"><iframe name="preview-frame" class="preview-frame" width="640" height="860" sandbox title="Email preview"></iframe></div>
</section>
</div>
<form id="preview-form" method="post" action="/console/preview" target="preview-frame" hidden>
  <input type="hidden" name="_csrf" value="${actor.csrfToken ?? ''}">
  ${['title', 'summary', 'body', 'local', 'offset', 'timeZone', 'listIds'].map((n) => html`<input type="hidden" name="${n}">`)}
</form>`;
    return page(actor, 'releases', title, body, ['editor.js']);
  };

  app.get('/console/releases/new', async (request, reply) =>
    reply.type('text/html').send(await render(request.actor, null)),
  );

  app.get('/console/releases/:id/edit', async (request, reply) => {
    const { id } = parse(idParams, request.params, 'id');
    const release = await findRelease(db, id);
    if (!release) throw notFound(`release ${id}`);
    if (release.status !== 'draft' && release.status !== 'scheduled') return reply.redirect(`/console/releases/${id}`);
    return reply.type('text/html').send(await render(request.actor, release));
  });

  /**
   * What an embargo choice means before it is saved: the instant in UTC and the display zones,
   * the API's own refusals (the daylight-saving gap and repeated hour), the audience, and the
   * sentence the confirmation will show.
   */
  app.get('/console/embargo-check', async (request) => {
    const input = parse(embargoQuery, request.query, 'query');
    const resolved = resolveEmbargo({ local: input.local, timeZone: input.timeZone, offset: input.offset });
    const recipients = await audienceSize(db, input.listIds);
    const current = input.releaseId ? await findRelease(db, input.releaseId) : null;
    const moving = current?.status === 'scheduled' && current.embargo_at.getTime() !== resolved.instant.getTime();
    return {
      embargo: describeEmbargo(resolved.instant, resolved.timeZone, config.DISPLAY_TIME_ZONES),
      leadSeconds: Math.round((resolved.instant.getTime() - Date.now()) / 1000),
      minLeadSeconds: config.EMBARGO_MIN_LEAD_SECONDS,
      recipients,
      message: moving
        ? rescheduleMessage(recipients, current.embargo_at, resolved.instant, resolved.timeZone)
        : scheduleMessage(recipients, resolved.instant, resolved.timeZone),
    };
  });

  /** Renders unsaved content as the email; posted by a form whose target is the sandboxed preview iframe. */
  app.post('/console/preview', async (request, reply) => {
    const form = parse(previewForm, request.body);
    if (form.body.length > config.MAX_BODY_BYTES)
      throw new HttpError(413, 'payload_too_large', `body: must be at most ${config.MAX_BODY_BYTES} characters`);
    const embargo = { local: form.local, timeZone: form.timeZone, offset: form.offset || undefined };
    const markup = await previewHtml(ctx, {
      title: form.title.trim() || 'Untitled release',
      summary: form.summary.trim() || null,
      body: form.body,
      embargo,
      listIds: form.listIds,
    });
    return reply
      .header('Content-Security-Policy', PREVIEW_CSP)
      .header('Cache-Control', 'no-store')
      .type('text/html; charset=utf-8')
      .send(markup);
  });
}
