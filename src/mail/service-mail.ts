import MailComposer from 'nodemailer/lib/mail-composer/index.js';
import { randomToken } from '../signing.js';
import type { OutgoingMessage } from './assemble.js';
import { senderDomain, type MessageSettings } from './message.js';

export interface ServiceMail {
  to: string;
  subject: string;
  /** Plain text: these messages carry a link and a sentence or two, nothing to render. */
  text: string;
}

/**
 * A message from Presslift itself to one person (a password-reset link, a resubscribe
 * confirmation), sent through the same mail path as releases: the relay, or the outbox without
 * one, signed with DKIM when that is configured.
 */
export async function serviceMessage(settings: MessageSettings, mail: ServiceMail): Promise<OutgoingMessage> {
  const messageId = `<service-${randomToken(12)}@${senderDomain(settings.from)}>`;
  const node = new MailComposer({
    from: settings.from,
    to: mail.to,
    subject: mail.subject,
    text: mail.text,
    messageId,
    headers: { 'Auto-Submitted': 'auto-generated' },
  }).compile();
  const envelope = node.getEnvelope();
  return {
    envelope: { from: envelope.from || '', to: envelope.to },
    raw: await node.build(),
    messageId,
    ...(settings.dkim ? { dkim: settings.dkim } : {}),
  };
}
