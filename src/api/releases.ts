import { z } from 'zod';
import { releaseAudit } from '../db/audit.js';
import { listDeliveries } from '../db/deliveries.js';
import { releaseFeedback, releaseFeedbackOf } from '../db/mail-events.js';
import { missingLists } from '../db/lists.js';
import {
  deliveryCounts,
  deliveryCountsOf,
  findRelease,
  releaseListIds,
  releaseListIdsOf,
  releasePage,
  releasePageStart,
  RELEASES_PAGE,
} from '../db/releases.js';
import { releaseSampleRecipient } from '../db/subscribers.js';
import { type Release } from '../db/schema.js';
import { DELIVERY_STATES } from '../states.js';
import { requireLead, resolveEmbargo, type EmbargoInput } from '../embargo/time.js';
import { PREVIEW_CSP } from './security.js';
import {
  cancelRelease,
  correctRelease,
  createRelease,
  editRelease,
  liftRelease,
  retryFailed,
  scheduleRelease,
  unscheduleRelease,
} from '../releases/lifecycle.js';
import { releaseChanges } from '../db/changes.js';
import { releaseFileAccess } from '../db/file-access.js';
import { emailAddress, idParam, lineText, multilineText, optionalLine } from '../fields.js';
import { messageSettings, recipientValues } from '../mail/message.js';
import { personalise } from '../render/personalise.js';
import { organisation } from '../render/organisation.js';
import { compiledRelease } from '../releases/renders.js';
import { HttpError, notFound } from './errors.js';
import { idParams, type ApiPlugin } from './plugin.js';
import { releaseView, releaseViewSchema } from './views.js';

const embargoSchema = z.union(
  [
    z.object({ at: z.string().min(1), timeZone: z.string().min(1).optional() }).strict(),
    z.object({ local: z.string().min(1), timeZone: z.string().min(1), offset: z.string().optional() }).strict(),
  ],
  { error: 'give {"at": "<ISO instant with offset>"} or {"local": "<date-time>", "timeZone": "<IANA zone>"}' },
);

const release = releaseViewSchema;
const one = { params: idParams, response: { 200: release } };
const audit = z.object({ id: z.number(), at: z.string(), actor: z.string(), action: z.string(), details: z.unknown() });
const delivery = z.object({
  id: z.number(),
  email: z.string(),
  name: z.string().nullable(),
  list: z.string(),
  phase: z.string(),
  state: z.enum(DELIVERY_STATES),
  attempts: z.number(),
  lastError: z.string().nullable(),
  messageId: z.string().nullable(),
  sentAt: z.string().nullable(),
});
const retried = z.object({ releaseId: z.number(), retried: z.number(), sendJobs: z.number() });

/** Releases under /api/releases: editors write, operators read and retry (src/api/access.ts). */
export const releaseRoutes: ApiPlugin = async (app, { ctx }) => {
  const { config, db } = ctx;
  const newRelease = z.object({
    title: lineText(300),
    summary: multilineText(2000)
      .nullable()
      .optional()
      .transform((v) => (v?.trim() ? v.trim() : null)),
    // A NUL or other control character cannot be stored or mailed; tabs and line breaks are Markdown.
    body: multilineText(config.MAX_BODY_BYTES).min(1, 'must not be empty'),
    embargo: embargoSchema,
    listIds: z.array(idParam).min(1, 'choose at least one list').max(100),
    /** The press officer journalists reply to; each field left out falls back to the press office. */
    contact: z
      .object({ name: optionalLine(200), email: emailAddress.nullable().optional(), phone: optionalLine(60) })
      .strict()
      .optional(),
    /** Lists of vetted journalists who receive an embargoed copy leadSeconds before the embargo. */
    advance: z
      .object({
        listIds: z.array(idParam).min(1, 'choose at least one advance list').max(100),
        leadSeconds: z
          .number()
          .int('must be a whole number of seconds')
          .min(1, 'must be at least 1')
          .max(30 * 86_400, 'must be at most 30 days'),
      })
      .strict()
      .nullable()
      .optional(),
  });

  const editedRelease = newRelease
    // What changed, in a line: heads the corrected copy sent to holders of an advance copy.
    .extend({ note: optionalLine(500) })
    .partial()
    .strict()
    .refine(
      (v) => Object.keys(v).some((key) => key !== 'note'),
      'give at least one of title, summary, body, listIds, embargo, contact, advance',
    );
  const correction = z
    .object({
      title: lineText(300).optional(),
      summary: multilineText(2000)
        .nullable()
        .optional()
        .transform((v) => (v === undefined ? undefined : v?.trim() ? v.trim() : null)),
      body: multilineText(config.MAX_BODY_BYTES).min(1, 'must not be empty').optional(),
      note: lineText(500),
    })
    .strict();
  // A lift or cancel sent with no body at all is asked for its reason like one sent with {}.
  const withReason = z.preprocess((v) => v ?? {}, z.object({ reason: lineText(500) }));

  /** Resolves an embargo and refuses one in the past or closer than the minimum lead. */
  const embargoFromInput = (input: EmbargoInput) => {
    const resolved = resolveEmbargo(input);
    requireLead(resolved.instant, new Date(), config.EMBARGO_MIN_LEAD_SECONDS);
    return resolved;
  };

  /** The lists asked for, each once, in the order given; refuses any that does not exist. */
  const existingLists = async (requested: number[], field = 'listIds') => {
    const listIds = [...new Set(requested)];
    const missing = await missingLists(db, listIds);
    if (missing.length > 0) {
      throw new HttpError(400, 'invalid_input', `${field}: no list with id ${missing.join(', ')}`, {
        fields: [{ field, missing }],
      });
    }
    return listIds;
  };

  /** Advance copies must be due after now (the lifecycle checks that a list is one kind or the other). */
  const requireAdvanceBefore = (embargoAt: Date, advance: { leadSeconds: number }) => {
    if ((embargoAt.getTime() - advance.leadSeconds * 1000 - Date.now()) / 1000 < config.EMBARGO_MIN_LEAD_SECONDS) {
      throw new HttpError(
        400,
        'invalid_input',
        'advance.leadSeconds: the advance copies would be due too soon or in the past; shorten the lead',
        { fields: [{ field: 'advance.leadSeconds' }] },
      );
    }
  };

  const loadRelease = async ({ id }: { id: number }): Promise<Release> => {
    const release = await findRelease(db, id);
    if (!release) throw notFound(`release ${id}`);
    return release;
  };
  const view = async (release: Release) =>
    releaseView(
      release,
      await releaseListIds(db, release.id),
      await deliveryCounts(db, release.id),
      config,
      await releaseListIds(db, release.id, true),
      await releaseFeedback(db, release.id),
    );

  app.post('', { schema: { body: newRelease, response: { 201: release } } }, async (request, reply) => {
    const input = request.body;
    const embargo = embargoFromInput(input.embargo);
    const listIds = await existingLists(input.listIds);
    const advance = input.advance && {
      listIds: await existingLists(input.advance.listIds, 'advance.listIds'),
      leadSeconds: input.advance.leadSeconds,
    };
    if (advance) requireAdvanceBefore(embargo.instant, advance);
    const release = await createRelease(
      ctx,
      {
        title: input.title,
        summary: input.summary,
        bodyMarkdown: input.body,
        embargoAt: embargo.instant,
        embargoTimeZone: embargo.timeZone,
        listIds,
        contact: {
          name: input.contact?.name ?? null,
          email: input.contact?.email ?? null,
          phone: input.contact?.phone ?? null,
        },
        advance: advance ?? null,
      },
      request.actor.label,
    );
    reply.status(201);
    return view(release);
  });

  // A page of releases, newest embargo first; `nextCursor` (null on the last page) asks for the next.
  // Four queries a page, whatever its size: a query per release made 1,000 releases take seconds.
  // Items leave out the body (GET /api/releases/:id has it): two hundred bodies made a page 1.4 MB,
  // and writing it out was most of the answer's time.
  const releasesQuery = z.object({
    cursor: idParam.optional(),
    limit: z.coerce.number().int().min(1).max(200).default(RELEASES_PAGE),
  });
  app.get(
    '',
    {
      schema: {
        querystring: releasesQuery,
        response: {
          200: z.object({ items: z.array(release.omit({ body: true })), nextCursor: z.number().int().nullable() }),
        },
      },
    },
    async (request) => {
      const query = request.query;
      const rows = await releasePage(db, query.limit, await releasePageStart(db, query.cursor, 'cursor'));
      const ids = rows.map((r) => r.id);
      const [lists, counts, feedback] = await Promise.all([
        releaseListIdsOf(db, ids),
        deliveryCountsOf(db, rows),
        releaseFeedbackOf(db, ids),
      ]);
      return {
        items: rows.map((r) => {
          const { lift, advance } = lists.get(r.id)!;
          const { body: _body, ...item } = releaseView(
            r,
            lift,
            counts.get(r.id)!,
            config,
            advance,
            feedback.get(r.id)!,
          );
          return item;
        }),
        nextCursor: rows.length === query.limit ? rows[rows.length - 1]!.id : null,
      };
    },
  );

  app.get('/:id', { schema: one }, async (request) => view(await loadRelease(request.params)));

  app.post('/:id/schedule', { schema: one }, async (request) => {
    const release = await loadRelease(request.params);
    return view(await scheduleRelease(ctx, release.id, request.actor.label, config.EMBARGO_MIN_LEAD_SECONDS));
  });

  app.patch('/:id', { schema: { ...one, body: editedRelease } }, async (request) => {
    const release = await loadRelease(request.params);
    const input = request.body;
    const listIds = input.listIds && (await existingLists(input.listIds));
    const embargo = input.embargo && resolveEmbargo(input.embargo);
    const advance = input.advance && {
      listIds: await existingLists(input.advance.listIds, 'advance.listIds'),
      leadSeconds: input.advance.leadSeconds,
    };
    // A new advance send must be due after now; moving the embargo of one already sent is fine.
    if (advance) requireAdvanceBefore(embargo?.instant ?? release.embargo_at, advance);
    const edited = await editRelease(ctx, release.id, request.actor.label, {
      title: input.title,
      summary: input.summary,
      bodyMarkdown: input.body,
      listIds,
      embargo,
      contact: input.contact && {
        name: input.contact.name ?? null,
        email: input.contact.email ?? null,
        phone: input.contact.phone ?? null,
      },
      advance,
      note: input.note ?? null,
    });
    return view(edited);
  });

  app.post('/:id/corrections', { schema: { params: idParams, body: correction } }, async (request, reply) => {
    const release = await loadRelease(request.params);
    const input = request.body;
    const corrected = await correctRelease(ctx, release.id, request.actor.label, {
      title: input.title,
      summary: input.summary,
      bodyMarkdown: input.body,
      note: input.note,
    });
    reply.status(201);
    return { changeId: corrected.changeId, recipients: corrected.recipients, release: await view(corrected.release) };
  });

  app.get('/:id/changes', { schema: { params: idParams } }, async (request) => {
    const release = await loadRelease(request.params);
    return { items: await releaseChanges(db, release.id) };
  });

  app.get('/:id/file-access', { schema: { params: idParams } }, async (request) => {
    const release = await loadRelease(request.params);
    return { items: await releaseFileAccess(db, release.id) };
  });

  app.post('/:id/unschedule', { schema: one }, async (request) => {
    const release = await loadRelease(request.params);
    return view(await unscheduleRelease(ctx, release.id, request.actor.label));
  });

  app.post('/:id/lift', { schema: { ...one, body: withReason } }, async (request) => {
    const release = await loadRelease(request.params);
    const { reason } = request.body;
    return view(await liftRelease(ctx, release.id, request.actor.label, reason));
  });

  app.post('/:id/cancel', { schema: { ...one, body: withReason } }, async (request) => {
    const release = await loadRelease(request.params);
    const { reason } = request.body;
    return view(await cancelRelease(ctx, release.id, request.actor.label, reason));
  });

  app.get(
    '/:id/audit',
    { schema: { params: idParams, response: { 200: z.object({ items: z.array(audit) }) } } },
    async (request) => {
      const release = await loadRelease(request.params);
      return { items: await releaseAudit(db, release.id) };
    },
  );

  const deliveryQuery = z.object({
    state: z.enum(DELIVERY_STATES).optional(),
    cursor: z.coerce.number().int().min(0).default(0),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  });
  const deliveryPage = z.object({ items: z.array(delivery), nextCursor: z.string().nullable() });
  app.get(
    '/:id/deliveries',
    { schema: { params: idParams, querystring: deliveryQuery, response: { 200: deliveryPage } } },
    async (request) => {
      const release = await loadRelease(request.params);
      const query = request.query;
      return listDeliveries(db, release.id, query.state, query.cursor, query.limit);
    },
  );

  const previewQuery = z.object({
    format: z.enum(['html', 'text']).default('html'),
    phase: z.enum(['lift', 'advance']).default('lift'),
  });
  // The answer is the email itself (text/html or text/plain), not JSON.
  const previewSchema = {
    params: idParams,
    querystring: previewQuery,
    description: 'The email as its first recipient gets it: text/html, or text/plain with format=text.',
  };
  app.get('/:id/preview', { schema: previewSchema }, async (request, reply) => {
    const release = await loadRelease(request.params);
    const { format, phase } = request.query;
    const compiled = await compiledRelease(db, release, organisation(config), phase);
    // The very values buildMessage fills in (tests/unit/mime-parts.test.ts proves the sent parts match).
    const copy = personalise(
      compiled,
      recipientValues(await releaseSampleRecipient(db, release.id), messageSettings(config, ctx.keys)),
    );
    // The same sandbox as the console's preview: the email's markup is shown, never run.
    reply.header('Cache-Control', 'no-store').header('Content-Security-Policy', PREVIEW_CSP);
    if (format === 'text') return reply.type('text/plain; charset=utf-8').send(copy.text);
    return reply.type('text/html; charset=utf-8').send(copy.html);
  });

  // Operators' retry of a release's failed deliveries (the console's operations page calls it).
  app.post('/:id/retry', { schema: { params: idParams, response: { 200: retried } } }, async (request) =>
    retryFailed(ctx, request.params.id, request.actor.label),
  );
};
