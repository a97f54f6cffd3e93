import type { SendMailOptions } from 'nodemailer';
import mimeFuncs from 'nodemailer/lib/mime-funcs';
import type { CompiledEmail } from '../render/compile';
import { personalise } from '../render/personalise';
import { signUnsubscribeToken } from './unsubscribe-token';

export interface Recipient {
  deliveryId: number;
  releaseId: number;
  subscriberId: number;
  listId: number;
  email: string;
  name: string | null;
  listName: string;
  listSlug: string;
}

export interface MessageSettings {
  from: string;
  publicUrl: string;
  secret: string;
}

export function senderDomain(from: string): string {
  const match = /@([^>\s]+)>?\s*$/.exec(from);
  return match ? match[1]!.toLowerCase() : 'presslift.localhost';
}

/** Deterministic per delivery, so a resend after an unrecorded acceptance carries the same id (invariant 2). */
export function deliveryMessageId(releaseId: number, deliveryId: number, from: string): string {
  return `<release-${releaseId}.delivery-${deliveryId}@${senderDomain(from)}>`;
}

export function unsubscribeUrl(settings: MessageSettings, subscriberId: number, listId: number): string {
  return `${settings.publicUrl}/unsubscribe/${signUnsubscribeToken(settings.secret, subscriberId, listId)}`;
}

/** The list's name as a header phrase: quoted when ASCII, an RFC 2047 encoded word otherwise. */
function listPhrase(name: string): string {
  const clean = name.replace(/["\\\r\n]/g, '');
  return /^[\x20-\x7e]*$/.test(clean) ? `"${clean}"` : mimeFuncs.encodeWord(clean, 'Q', 0);
}

/** One recipient's message: the compiled email with their values filled in, and bulk-mail headers. */
export function buildMessage(compiled: CompiledEmail, recipient: Recipient, settings: MessageSettings): SendMailOptions {
  const unsubscribe = unsubscribeUrl(settings, recipient.subscriberId, recipient.listId);
  const copy = personalise(compiled, {
    name: recipient.name ?? 'colleague',
    email: recipient.email,
    list_name: recipient.listName,
    unsubscribe_url: unsubscribe,
  });
  const domain = senderDomain(settings.from);
  return {
    from: settings.from,
    to: recipient.name ? { name: recipient.name, address: recipient.email } : recipient.email,
    subject: copy.subject,
    html: copy.html,
    text: copy.text,
    messageId: deliveryMessageId(recipient.releaseId, recipient.deliveryId, settings.from),
    headers: {
      // RFC 2919: a list's identity is a label under our domain, with its name as the phrase.
      // Prepared, because nodemailer would otherwise encode the whole value, angle brackets included.
      'List-Id': { prepared: true, value: `${listPhrase(recipient.listName)} <${recipient.listSlug}.${domain}>` },
      'List-Unsubscribe': `<${unsubscribe}>`,
      // RFC 8058: mailbox providers unsubscribe with one POST, no confirmation page.
      'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
    },
  };
}
