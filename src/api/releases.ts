import type { FastifyInstance } from 'fastify';
import { z } from 'zod';
import type { Context } from '../context';
import { releaseAudit } from '../db/audit';
import { listDeliveries } from '../db/deliveries';
import { releaseFeedback } from '../db/mail-events';
import { missingLists } from '../db/lists';
import { deliveryCounts, findRelease, releaseListIds } from '../db/releases';
import { releaseSampleRecipient } from '../db/subscribers';
import { type Release } from '../db/schema';
import { DELIVERY_STATES } from '../states';
import { requireLead, resolveEmbargo, type EmbargoInput } from '../embargo/time';
import { PREVIEW_CSP } from './security';
import { cancelRelease, correctRelease, createRelease, editRelease, liftRelease, scheduleRelease, unscheduleRelease } from '../releases/lifecycle';
import { releaseChanges } from '../db/changes';
import { releaseFileAccess } from '../db/file-access';
import { emailAddress, idParam, lineText, multilineText, optionalLine } from '../fields';
import { messageSettings, recipientValues } from '../mail/message';
import { personalise } from '../render/personalise';
import { organisation } from '../render/organisation';
import { compiledRelease } from '../releases/renders';
import { HttpError, notFound, parse } from './errors';
import { releaseView } from './views';

const embargoSchema = z.union([
  z.object({ at: z.string().min(1), timeZone: z.string().min(1).optional() }).strict(),
  z.object({ local: z.string().min(1), timeZone: z.string().min(1), offset: z.string().optional() }).strict(),
], { error: 'give {"at": "<ISO instant with offset>"} or {"local": "<date-time>", "timeZone": "<IANA zone>"}' });

const releaseParams = z.object({ id: idParam });

export function releaseRoutes(app: FastifyInstance, ctx: Context) {
  const { config, db } = ctx;
  const newRelease = z.object({
    title: lineText(300),
    summary: multilineText(2000).nullable().optional().transform((v) => (v?.trim() ? v.trim() : null)),
    // A NUL or other control character cannot be stored or mailed; tabs and line breaks are Markdown.
    body: multilineText(config.MAX_BODY_BYTES).min(1, 'must not be empty'),
    embargo: embargoSchema,
    listIds: z.array(idParam).min(1, 'choose at least one list').max(100),
    /** The press officer journalists reply to; each field left out falls back to the press office. */
    contact: z.object({ name: optionalLine(200), email: emailAddress.nullable().optional(), phone: optionalLine(60) }).strict().optional(),
    /** Lists of vetted journalists who receive an embargoed copy leadSeconds before the embargo. */
    advance: z.object({
      listIds: z.array(idParam).min(1, 'choose at least one advance list').max(100),
      leadSeconds: z.number().int('must be a whole number of seconds').min(1, 'must be at least 1').max(30 * 86_400, 'must be at most 30 days'),
    }).strict().nullable().optional(),
  });

  const editedRelease = newRelease
    // What changed, in a line: heads the corrected copy sent to holders of an advance copy.
    .extend({ note: optionalLine(500) })
    .partial().strict()
    .refine((v) => Object.keys(v).some((key) => key !== 'note'), 'give at least one of title, summary, body, listIds, embargo, contact, advance');
  const correction = z.object({
    title: lineText(300).optional(),
    summary: multilineText(2000).nullable().optional().transform((v) => (v === undefined ? undefined : v?.trim() ? v.trim() : null)),
    body: multilineText(config.MAX_BODY_BYTES).min(1, 'must not be empty').optional(),
    note: lineText(500),
  }).strict();
  const withReason = z.object({ reason: lineText(500) });

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
      throw new HttpError(400, 'invalid_input', `${field}: no list with id ${missing.join(', ')}`, { fields: [{ field, missing }] });
    }
    return listIds;
  };

  /** Advance copies must be due after now (the lifecycle checks that a list is one kind or the other). */
  const requireAdvanceBefore = (embargoAt: Date, advance: { leadSeconds: number }) => {
    if ((embargoAt.getTime() - advance.leadSeconds * 1000 - Date.now()) / 1000 < config.EMBARGO_MIN_LEAD_SECONDS) {
      throw new HttpError(400, 'invalid_input', 'advance.leadSeconds: the advance copies would be due too soon or in the past; shorten the lead', { fields: [{ field: 'advance.leadSeconds' }] });
    }
  };

  const loadRelease = async (params: unknown): Promise<Release> => {
    const { id } = parse(releaseParams, params, 'id');
    const release = await findRelease(db, id);
    if (!release) throw notFound(`release ${id}`);
    return release;
  };
  const view = async (release: Release) =>
    releaseView(
      release, await releaseListIds(db, release.id), await deliveryCounts(db, release.id), config, await releaseListIds(db, release.id, true),
      await releaseFeedback(db, release.id),
    );

  app.post('/api/releases', async (request, reply) => {
    const input = parse(newRelease, request.body);
    const embargo = embargoFromInput(input.embargo);
    const listIds = await existingLists(input.listIds);
    const advance = input.advance && { listIds: await existingLists(input.advance.listIds, 'advance.listIds'), leadSeconds: input.advance.leadSeconds };
    if (advance) requireAdvanceBefore(embargo.instant, advance);
    const release = await createRelease(
      ctx,
      {
        title: input.title, summary: input.summary, bodyMarkdown: input.body, embargoAt: embargo.instant, embargoTimeZone: embargo.timeZone, listIds,
        contact: { name: input.contact?.name ?? null, email: input.contact?.email ?? null, phone: input.contact?.phone ?? null },
        advance: advance ?? null,
      },
      request.actor!.label,
    );
    reply.status(201);
    return view(release);
  });

  app.get('/api/releases', async () => {
    const rows = await db.selectFrom('releases').selectAll().orderBy('embargo_at', 'desc').limit(200).execute();
    return { items: await Promise.all(rows.map(view)) };
  });

  app.get('/api/releases/:id', async (request) => view(await loadRelease(request.params)));

  app.post('/api/releases/:id/schedule', async (request) => {
    const release = await loadRelease(request.params);
    return view(await scheduleRelease(ctx, release.id, request.actor!.label, config.EMBARGO_MIN_LEAD_SECONDS));
  });

  app.patch('/api/releases/:id', async (request) => {
    const release = await loadRelease(request.params);
    const input = parse(editedRelease, request.body);
    const listIds = input.listIds && (await existingLists(input.listIds));
    const embargo = input.embargo && resolveEmbargo(input.embargo);
    const advance = input.advance && { listIds: await existingLists(input.advance.listIds, 'advance.listIds'), leadSeconds: input.advance.leadSeconds };
    // A new advance send must be due after now; moving the embargo of one already sent is fine.
    if (advance) requireAdvanceBefore(embargo?.instant ?? release.embargo_at, advance);
    const edited = await editRelease(ctx, release.id, request.actor!.label, {
      title: input.title,
      summary: input.summary,
      bodyMarkdown: input.body,
      listIds,
      embargo,
      contact: input.contact && { name: input.contact.name ?? null, email: input.contact.email ?? null, phone: input.contact.phone ?? null },
      advance,
      note: input.note ?? null,
    });
    return view(edited);
  });

  app.post('/api/releases/:id/corrections', async (request, reply) => {
    const release = await loadRelease(request.params);
    const input = parse(correction, request.body ?? {});
    const corrected = await correctRelease(ctx, release.id, request.actor!.label, {
      title: input.title, summary: input.summary, bodyMarkdown: input.body, note: input.note,
    });
    reply.status(201);
    return { changeId: corrected.changeId, recipients: corrected.recipients, release: await view(corrected.release) };
  });

  app.get('/api/releases/:id/changes', async (request) => {
    const release = await loadRelease(request.params);
    return { items: await releaseChanges(db, release.id) };
  });

  app.get('/api/releases/:id/file-access', async (request) => {
    const release = await loadRelease(request.params);
    return { items: await releaseFileAccess(db, release.id) };
  });

  app.post('/api/releases/:id/unschedule', async (request) => {
    const release = await loadRelease(request.params);
    return view(await unscheduleRelease(ctx, release.id, request.actor!.label));
  });

  app.post('/api/releases/:id/lift', async (request) => {
    const release = await loadRelease(request.params);
    const { reason } = parse(withReason, request.body ?? {});
    return view(await liftRelease(ctx, release.id, request.actor!.label, reason));
  });

  app.post('/api/releases/:id/cancel', async (request) => {
    const release = await loadRelease(request.params);
    const { reason } = parse(withReason, request.body ?? {});
    return view(await cancelRelease(ctx, release.id, request.actor!.label, reason));
  });

  app.get('/api/releases/:id/audit', async (request) => {
    const release = await loadRelease(request.params);
    return { items: await releaseAudit(db, release.id) };
  });

  const deliveryQuery = z.object({
    state: z.enum(DELIVERY_STATES).optional(),
    cursor: z.coerce.number().int().min(0).default(0),
    limit: z.coerce.number().int().min(1).max(1000).default(100),
  });
  app.get('/api/releases/:id/deliveries', async (request) => {
    const release = await loadRelease(request.params);
    const query = parse(deliveryQuery, request.query, 'query');
    return listDeliveries(db, release.id, query.state, query.cursor, query.limit);
  });

  const previewQuery = z.object({ format: z.enum(['html', 'text']).default('html'), phase: z.enum(['lift', 'advance']).default('lift') });
  app.get('/api/releases/:id/preview', async (request, reply) => {
    const release = await loadRelease(request.params);
    const { format, phase } = parse(previewQuery, request.query, 'query');
    const compiled = await compiledRelease(db, release, organisation(config), phase);
    // The very values buildMessage fills in (tests/unit/mime-parts.test.ts proves the sent parts match).
    const copy = personalise(compiled, recipientValues(await releaseSampleRecipient(db, release.id), messageSettings(config, ctx.keys)));
    // The same sandbox as the console's preview: the email's markup is shown, never run.
    reply.header('Cache-Control', 'no-store').header('Content-Security-Policy', PREVIEW_CSP);
    if (format === 'text') return reply.type('text/plain; charset=utf-8').send(copy.text);
    return reply.type('text/html; charset=utf-8').send(copy.html);
  });
}
