import { sql } from 'kysely';
import { sampleRecipient as releaseSample } from '../api/releases';
import type { Context } from '../context';
import type { Release } from '../db/schema';
import { resolveEmbargo, type EmbargoInput } from '../embargo/time';
import { messageSettings, recipientValues, type Recipient } from '../mail/message';
import { compileEmail, type CompiledEmail } from '../render/compile';
import { organisation } from '../render/organisation';
import { personalise } from '../render/personalise';
import { compiledRelease } from '../render/store';

export interface DraftContent {
  title: string;
  summary: string | null;
  body: string;
  embargo: EmbargoInput;
  listIds: number[];
}

/** The first journalist of the chosen lists, so the preview of a draft shows a real name and list. */
async function sampleRecipient(ctx: Context, listIds: number[]): Promise<Recipient> {
  const { rows } = await sql<{ subscriber_id: number; list_id: number; email: string; name: string | null; list_name: string; list_slug: string }>`
    SELECT m.subscriber_id, m.list_id, s.email, s.name, l.name AS list_name, l.slug AS list_slug
    FROM list_members m JOIN subscribers s ON s.id = m.subscriber_id JOIN lists l ON l.id = m.list_id
    WHERE m.list_id = ANY(${listIds}::bigint[]) AND m.status = 'active'
    ORDER BY array_position(${listIds}::bigint[], m.list_id), m.subscriber_id
    LIMIT 1`.execute(ctx.db);
  const row = rows[0];
  return row
    ? { deliveryId: 0, releaseId: 0, subscriberId: row.subscriber_id, listId: row.list_id, email: row.email, name: row.name, listName: row.list_name, listSlug: row.list_slug }
    : { deliveryId: 0, releaseId: 0, subscriberId: 0, listId: 0, email: 'journalist@example.org', name: 'Sample Journalist', listName: 'Sample list', listSlug: 'sample' };
}

/**
 * The email a draft would send at its lift, rendered by the same template and personalisation as
 * the real send (files and advance copies aside). An embargo that does not resolve yet (being
 * typed) shows as now, so the preview never fails.
 */
export async function previewHtml(ctx: Context, draft: DraftContent): Promise<string> {
  let embargo = { instant: new Date(), timeZone: 'UTC' };
  try {
    embargo = resolveEmbargo(draft.embargo);
  } catch {
    // The embargo check beside the picker explains what is wrong with it.
  }
  const org = organisation(ctx.config);
  const compiled = await compileEmail(
    {
      title: draft.title, summary: draft.summary, bodyMarkdown: draft.body, embargoAt: embargo.instant, embargoTimeZone: embargo.timeZone,
      phase: 'lift', contact: org.contact, attachments: [],
    },
    org,
  );
  return recipientHtml(ctx, compiled, await sampleRecipient(ctx, draft.listIds));
}

/** A saved release's stored email as the first journalist of its audience gets it at the lift. */
export async function releasePreviewHtml(ctx: Context, release: Release): Promise<string> {
  const compiled = await compiledRelease(ctx.db, release, organisation(ctx.config));
  return recipientHtml(ctx, compiled, await releaseSample(ctx, release.id));
}

/** The very values a send fills in for this recipient. */
function recipientHtml(ctx: Context, compiled: CompiledEmail, recipient: Recipient): string {
  return personalise(compiled, recipientValues(recipient, messageSettings(ctx.config, ctx.secret))).html;
}
