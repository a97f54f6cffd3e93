import type { Context } from '../context.js';
import { recordAudit } from '../db/audit.js';
import {
  findDeliveryByMessageId,
  findReportedDelivery,
  markBounced,
  recordMailEvent,
  softBouncesWithin,
  type ReportedDelivery,
} from '../db/mail-events.js';
import type { MailEventKind } from '../db/schema.js';
import { suppress, unsubscribeEverywhere } from '../db/subscribers.js';
import type { MailEvent } from '../mail/feedback.js';

export type Outcome =
  /** Its effects were applied now. */
  | 'applied'
  /** The same report (or the same fact by another road) was applied before: nothing more changes. */
  | 'duplicate'
  /** The delivery it names has no recorded acceptance yet: ask the sender to try again later. */
  | 'later'
  /** It names a delivery that no longer exists. */
  | 'unknown';

/** How a report is counted: hard bounces suppress at once, soft ones add up, complaints are their own kind. */
function eventKind(event: MailEvent): MailEventKind {
  if (event.feedback.kind === 'complaint') return 'complaint';
  return event.feedback.permanent ? 'bounce' : 'soft_bounce';
}

async function resolve(ctx: Context, event: MailEvent): Promise<ReportedDelivery | null | 'gone'> {
  const { target } = event;
  if ('deliveryId' in target) return (await findReportedDelivery(ctx.db, target.deliveryId)) ?? 'gone';
  if ('messageId' in target) return findDeliveryByMessageId(ctx.db, target.messageId);
  return null;
}

/**
 * Applies one bounce or complaint, whichever road it came by (inbound mail, a webhook): the one
 * place that decides what a report does. Idempotent: the event row's dedupe key is taken in the
 * same transaction as the effects, so a report that arrives twice changes nothing the second time.
 */
export async function applyMailEvent(ctx: Context, event: MailEvent): Promise<Outcome> {
  const delivery = await resolve(ctx, event);
  if (delivery === 'gone') return 'unknown';
  // The relay accepted it (the report exists), but the worker has not recorded that yet.
  if (delivery && (delivery.state === 'queued' || delivery.state === 'sending')) return 'later';
  const email = delivery?.email ?? ('email' in event.target ? event.target.email : null);
  if (!email) return 'unknown';
  const kind = eventKind(event);
  const { feedback, source } = event;
  // A delay warning and the final failure of the same message are two steps, each applied once.
  const step =
    feedback.kind === 'bounce' && !feedback.permanent ? `${kind}:${feedback.final ? 'final' : 'delayed'}` : kind;
  const evidence = {
    deliveryId: delivery?.deliveryId ?? null,
    releaseId: delivery?.releaseId ?? null,
    ...(feedback.kind === 'bounce'
      ? { status: feedback.status, diagnostic: feedback.diagnostic }
      : { feedbackType: feedback.feedbackType }),
  };
  const { config } = ctx;

  return ctx.db.transaction().execute(async (db) => {
    const first = await recordMailEvent(db, {
      kind,
      email,
      delivery,
      source,
      status: feedback.kind === 'bounce' ? feedback.status : feedback.feedbackType,
      diagnostic: feedback.kind === 'bounce' ? feedback.diagnostic : null,
      dedupeKey: delivery
        ? `${step}:delivery:${delivery.deliveryId}`
        : `${step}:${source}:${event.eventId ?? email.toLowerCase()}`,
    });
    if (!first) return 'duplicate';

    if (feedback.kind === 'complaint') {
      const ended = await unsubscribeEverywhere(db, email);
      await suppress(db, email, `complaint (${feedback.feedbackType})`, source, evidence);
      await recordAudit(db, {
        releaseId: delivery?.releaseId ?? null,
        actor: `report:${source}`,
        action: 'complaint',
        details: { ...evidence, listsLeft: ended },
      });
      return 'applied';
    }
    const words = [feedback.status, feedback.diagnostic].filter(Boolean).join(' ');
    if (feedback.final && delivery) await markBounced(db, delivery.deliveryId, `bounced: ${words}`);
    if (feedback.permanent) {
      await suppress(db, email, `bounced: ${words}`, source, evidence);
    } else {
      const soft = await softBouncesWithin(db, email, config.SOFT_BOUNCE_DAYS);
      if (soft >= config.SOFT_BOUNCE_LIMIT) {
        await suppress(db, email, `${soft} soft bounces in ${config.SOFT_BOUNCE_DAYS} days (last: ${words})`, source, {
          ...evidence,
          softBounces: soft,
        });
      }
    }
    return 'applied';
  });
}
