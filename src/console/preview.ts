import type { Context } from '../context.js';
import type { Release } from '../db/schema.js';
import { releaseSampleRecipient, sampleRecipient } from '../db/subscribers.js';
import { resolveEmbargo, type EmbargoInput } from '../embargo/time.js';
import type { Recipient } from '../db/deliveries.js';
import { messageSettings, recipientValues } from '../mail/message.js';
import { compileEmail, type CompiledEmail } from '../render/compile.js';
import { organisation } from '../render/organisation.js';
import { personalise } from '../render/personalise.js';
import { compiledRelease } from '../releases/renders.js';

export interface DraftContent {
  title: string;
  summary: string | null;
  body: string;
  embargo: EmbargoInput;
  listIds: number[];
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
      title: draft.title,
      summary: draft.summary,
      bodyMarkdown: draft.body,
      embargoAt: embargo.instant,
      embargoTimeZone: embargo.timeZone,
      phase: 'lift',
      contact: org.contact,
      attachments: [],
    },
    org,
  );
  return recipientHtml(ctx, compiled, await sampleRecipient(ctx.db, draft.listIds));
}

/** A saved release's stored email as the first journalist of its audience gets it at the lift. */
export async function releasePreviewHtml(ctx: Context, release: Release): Promise<string> {
  const compiled = await compiledRelease(ctx.db, release, organisation(ctx.config));
  return recipientHtml(ctx, compiled, await releaseSampleRecipient(ctx.db, release.id));
}

/** The very values a send fills in for this recipient. */
function recipientHtml(ctx: Context, compiled: CompiledEmail, recipient: Recipient): string {
  return personalise(compiled, recipientValues(recipient, messageSettings(ctx.config, ctx.keys))).html;
}
