import type { SuppressionSource } from '../db/schema.js';
import type { DsnRecipient } from './reports.js';

/**
 * What came back about a message we sent, in one vocabulary whatever road it took: a DSN or an ARF
 * report mailed to `presslift inbound`, or a provider's webhook. src/pipeline/mail-events.ts applies it.
 */
export type Feedback =
  | {
      kind: 'bounce';
      /** The address itself is bad (unknown mailbox, dead domain): suppress it now. */
      permanent: boolean;
      /** The message will not be delivered (the delivery becomes bounced); otherwise only delayed. */
      final: boolean;
      status: string;
      diagnostic: string | null;
    }
  | { kind: 'complaint'; feedbackType: string };

/**
 * Which message the report is about. A delivery only when something trustworthy names it: a signed
 * bounce address, or a provider whose signature was verified echoing our Message-ID. Otherwise
 * only an address, which a verified provider may name (an unverified mail never gets this far).
 */
export type Target = { deliveryId: number } | { messageId: string; email: string } | { email: string };

export interface MailEvent {
  source: SuppressionSource;
  target: Target;
  /** The provider's own id for this event, so a retried webhook counts once. */
  eventId: string | null;
  feedback: Feedback;
}

/**
 * Permanent failures that say nothing bad about the address: policy and reputation blocks (5.7.x,
 * e.g. DMARC or a blocklisted IP: our problem, not the reader's), a full mailbox (5.2.2) and a
 * message too big (5.3.4). They bounce the message but count like soft bounces.
 */
const NOT_THE_ADDRESS = /^5\.(7\.\d+|2\.2|3\.4)$/;

/** A permanent failure with this status says the address itself is bad. */
export function addressIsBad(status: string): boolean {
  return status.startsWith('5') && !NOT_THE_ADDRESS.test(status);
}

/** A DSN recipient block as feedback; null for delivered, relayed or expanded (nothing went wrong). */
export function dsnFeedback(recipient: DsnRecipient): Extract<Feedback, { kind: 'bounce' }> | null {
  const { action, status, diagnostic } = recipient;
  if (action !== 'failed' && action !== 'delayed') return null;
  const final = action === 'failed';
  return { kind: 'bounce', final, permanent: final && addressIsBad(status), status, diagnostic };
}

/** RFC 5965 feedback types that are a reader's complaint about our mail; not-spam, virus and the like are not. */
export function isComplaint(feedbackType: string): boolean {
  return feedbackType === 'abuse' || feedbackType === 'fraud';
}

const TOKEN = /(\d{1,15}\.\d{1,15}\.[A-Za-z0-9_-]{22})/;

/**
 * The unsubscribe token of a mail to the List-Unsubscribe mailto: in the subject ("unsubscribe
 * <token>", as the header offers it) or in the address (unsubscribe+<token>@…).
 */
export function unsubscribeTokenOf(subject: string, recipients: string[]): string | null {
  const inSubject = new RegExp(`unsubscribe\\s+${TOKEN.source}`, 'i').exec(subject);
  if (inSubject) return inSubject[1]!;
  for (const address of recipients) {
    const inAddress = new RegExp(`^[^+@]+\\+${TOKEN.source}@`).exec(address);
    if (inAddress) return inAddress[1]!;
  }
  return null;
}

/** The best target a provider's event gives: our signed envelope sender, else our Message-ID, else the address. */
export function providerTarget(deliveryId: number | null, messageId: string | null | undefined, email: string): Target {
  if (deliveryId) return { deliveryId };
  if (messageId && /^<?release-\d+\.delivery-\d+@/.test(messageId))
    return { messageId: messageId.startsWith('<') ? messageId : `<${messageId}>`, email };
  return { email };
}

/** Reads a signed bounce address back into its delivery (or null); providers echo the envelope sender. */
export type VerpReader = (address: string | undefined) => number | null;
