import { addressIsBad, providerTarget, type MailEvent, type VerpReader } from '../feedback.js';

/**
 * Amazon SES bounce and complaint notifications (the SNS message's body; "notificationType" for
 * identity notifications, "eventType" for configuration-set event publishing). Anything else
 * (deliveries, opens) is not feedback and yields no event.
 */
interface SesNotification {
  notificationType?: string;
  eventType?: string;
  mail?: { source?: string; commonHeaders?: { messageId?: string } };
  bounce?: {
    bounceType?: string;
    bounceSubType?: string;
    feedbackId?: string;
    bouncedRecipients?: Array<{ emailAddress?: string; status?: string; diagnosticCode?: string; action?: string }>;
  };
  complaint?: {
    feedbackId?: string;
    complaintFeedbackType?: string;
    complainedRecipients?: Array<{ emailAddress?: string }>;
  };
}

export function sesEvents(message: string, verp: VerpReader): MailEvent[] | null {
  let n: SesNotification;
  try {
    n = JSON.parse(message) as SesNotification;
  } catch {
    return null;
  }
  if (!n || typeof n !== 'object') return null;
  const type = n.notificationType ?? n.eventType;
  const deliveryId = verp(n.mail?.source);
  const messageId = n.mail?.commonHeaders?.messageId;
  if (type === 'Bounce' && n.bounce) {
    // SES reports a bounce once it has stopped trying, so the message bounced either way; Permanent
    // says the address is bad, Transient and Undetermined (a full mailbox, a block) that it may work later.
    const permanent = n.bounce.bounceType === 'Permanent';
    return (n.bounce.bouncedRecipients ?? [])
      .filter((r) => r.emailAddress)
      .map((r) => {
        const status = r.status ?? (permanent ? '5.0.0' : '4.0.0');
        return {
          source: 'ses' as const,
          target: providerTarget(deliveryId, messageId, r.emailAddress!),
          eventId: `${n.bounce!.feedbackId ?? ''}:${r.emailAddress!.toLowerCase()}`,
          feedback: {
            kind: 'bounce' as const,
            permanent: permanent && addressIsBad(status),
            final: true,
            status,
            diagnostic: r.diagnosticCode ?? `${n.bounce!.bounceType ?? ''} ${n.bounce!.bounceSubType ?? ''}`.trim(),
          },
        };
      });
  }
  if (type === 'Complaint' && n.complaint) {
    return (n.complaint.complainedRecipients ?? [])
      .filter((r) => r.emailAddress)
      .map((r) => ({
        source: 'ses' as const,
        target: providerTarget(deliveryId, messageId, r.emailAddress!),
        eventId: `${n.complaint!.feedbackId ?? ''}:${r.emailAddress!.toLowerCase()}`,
        feedback: { kind: 'complaint' as const, feedbackType: n.complaint!.complaintFeedbackType ?? 'abuse' },
      }));
  }
  return [];
}
