import type { Context } from '../context.js';
import { dsnFeedback, isComplaint, unsubscribeTokenOf, type MailEvent } from '../mail/feedback.js';
import { readReport } from '../mail/reports.js';
import { verpDelivery } from '../mail/verp.js';
import { applyMailEvent, type Outcome } from '../pipeline/mail-events.js';
import { unsubscribeByToken } from '../subscribers/unsubscribe.js';

/** What became of one inbound mail; `later` asks the sending server to try again (SMTP 451). */
export type Handled = { outcome: Outcome | 'unsubscribed' | 'dropped'; why?: string };

export interface Mailboxes {
  bounceDomain: string;
  unsubscribeMailbox: string;
}

/** The unsubscribe mailbox itself, or its local part with a +detail (unsubscribe+<token>@…). */
export function isUnsubscribeAddress(address: string, mailboxes: Mailboxes): boolean {
  const [local, domain] = mailboxes.unsubscribeMailbox.toLowerCase().split('@') as [string, string];
  const given = address.toLowerCase();
  return given === `${local}@${domain}` || (given.startsWith(`${local}+`) && given.endsWith(`@${domain}`));
}

/**
 * One mail that arrived at a bounce or unsubscribe address. Only a signed bounce address (the
 * envelope recipient, or the original's envelope sender quoted in the report) ties a report to a
 * delivery; a report that names none of ours is dropped, so nobody can bounce or complain an
 * address off our lists by writing a report by hand. Logs carry ids, never the mail's words.
 */
export async function handleInbound(
  ctx: Context,
  raw: Buffer,
  recipients: string[],
  mailboxes: Mailboxes,
): Promise<Handled> {
  const log = ctx.log.child({ role: 'inbound' });
  const report = await readReport(raw);
  const deliveryOf = (addresses: string[]) => {
    for (const address of addresses) {
      const id = verpDelivery(ctx.keys, address, mailboxes.bounceDomain);
      if (id !== null) return id;
    }
    return null;
  };

  const apply = async (event: MailEvent, what: string): Promise<Handled> => {
    const outcome = await applyMailEvent(ctx, event);
    log.info({ ...event.target, source: event.source, outcome }, what);
    return { outcome };
  };
  const drop = (why: string, level: 'info' | 'warn' = 'info'): Handled => {
    log[level]({ why, type: report.type }, 'inbound mail dropped');
    return { outcome: 'dropped', why };
  };

  switch (report.type) {
    case 'malformed':
      return drop(report.reason, 'warn');
    case 'dsn': {
      const deliveryId = deliveryOf([...recipients, ...report.senders]);
      if (deliveryId === null) return drop('a delivery status notification naming none of our deliveries');
      const feedback = report.recipients.map(dsnFeedback).find((f) => f !== null);
      if (!feedback) return drop('a delivery status notification reporting no failure');
      if (deliveryId === 0) return drop('a bounce of a staff test copy');
      return apply(
        { source: 'dsn', target: { deliveryId }, eventId: null, feedback },
        feedback.final ? 'bounce received' : 'delay received',
      );
    }
    case 'arf': {
      if (!isComplaint(report.feedbackType)) return drop(`a feedback report of type ${report.feedbackType}`);
      const deliveryId = deliveryOf([...recipients, ...report.senders]);
      if (!deliveryId) return drop('a complaint naming none of our deliveries');
      return apply(
        {
          source: 'arf',
          target: { deliveryId },
          eventId: null,
          feedback: { kind: 'complaint', feedbackType: report.feedbackType },
        },
        'complaint received',
      );
    }
    case 'other': {
      if (!recipients.some((r) => isUnsubscribeAddress(r, mailboxes)))
        return drop('a reply that is neither a bounce nor a complaint');
      const token = unsubscribeTokenOf(report.subject, recipients);
      const done = token && (await unsubscribeByToken(ctx.db, ctx.keys, token, 'mail'));
      if (!done) return drop('an unsubscribe mail without a valid token');
      log.info({ subscriberId: done.subscriberId, listId: done.listId, changed: done.changed }, 'unsubscribed by mail');
      return { outcome: 'unsubscribed' };
    }
  }
}
