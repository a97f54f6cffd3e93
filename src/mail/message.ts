import mimeFuncs from 'nodemailer/lib/mime-funcs/index.js';
import type { Config } from '../config.js';
import type { Recipient } from '../db/deliveries.js';
import { embargoLine, type CompiledEmail } from '../render/compile.js';
import { fill, SLOT_ESCAPES, type RecipientValues } from '../render/personalise.js';
import type { HeaderValues, PartedMessage } from './assemble.js';
import { mimeParts } from './body.js';
import type { Keyring } from '../signing.js';
import { signPreferenceToken } from './preference-token.js';
import { fileKey } from './file-key.js';
import { signUnsubscribeToken } from './unsubscribe-token.js';
import { verpAddress } from './verp.js';

export interface DkimKey {
  domainName: string;
  keySelector: string;
  privateKey: string;
}

export interface MessageSettings {
  from: string;
  publicUrl: string;
  keys: Keyring;
  /** The address `presslift inbound` takes unsubscribe mails at (the mailto of List-Unsubscribe). */
  unsubscribeMailbox: string;
  /** The domain of each message's signed envelope sender, where bounces come back (see verp.ts). */
  bounceDomain: string;
  /** Gmail feedback-loop sender id; no Feedback-ID header without it. */
  feedbackId: string | null;
  dkim: DkimKey | null;
}

/** The domain of an address such as `Name <user@example.org>`, lowercased. */
export function senderDomain(from: string): string {
  const match = /@([^>\s@]+)>?\s*$/.exec(from);
  return match ? match[1]!.toLowerCase() : 'presslift.localhost';
}

export function messageSettings(config: Config, keys: Keyring): MessageSettings {
  return {
    from: config.MAIL_FROM,
    publicUrl: config.PUBLIC_URL,
    keys,
    unsubscribeMailbox: config.UNSUBSCRIBE_MAILTO ?? `unsubscribe@${senderDomain(config.MAIL_FROM)}`,
    bounceDomain: (config.BOUNCE_DOMAIN ?? senderDomain(config.MAIL_FROM)).toLowerCase(),
    feedbackId: config.FEEDBACK_ID ?? null,
    dkim: config.DKIM_PRIVATE_KEY
      ? { domainName: config.DKIM_DOMAIN!, keySelector: config.DKIM_SELECTOR!, privateKey: config.DKIM_PRIVATE_KEY }
      : null,
  };
}

/**
 * Deterministic per delivery, so a resend after an unrecorded acceptance carries the same id (invariant "once per
 * recipient").
 */
function deliveryMessageId(releaseId: number, deliveryId: number, from: string): string {
  return `<release-${releaseId}.delivery-${deliveryId}@${senderDomain(from)}>`;
}

/** The list's name as a header phrase: quoted when ASCII, an RFC 2047 encoded word otherwise. */
function listPhrase(name: string): string {
  const clean = name.replace(/["\\\r\n]/g, '');
  return /^[\x20-\x7e]*$/.test(clean) ? `"${clean}"` : mimeFuncs.encodeWord(clean, 'Q', 0);
}

// nodemailer's default list (RFC 6376 §5.4.1) plus List-Unsubscribe-Post, which it leaves out:
// an unsigned one-click header could be added in transit, and Gmail and Yahoo require it signed.
const DKIM_SIGNED_HEADERS = [
  'From',
  'Sender',
  'Reply-To',
  'Subject',
  'Date',
  'Message-ID',
  'To',
  'Cc',
  'MIME-Version',
  'Content-Type',
  'Content-Transfer-Encoding',
  'In-Reply-To',
  'References',
  'List-Id',
  'List-Unsubscribe',
  'List-Unsubscribe-Post',
  'Feedback-ID',
].join(':');

export interface MessageOptions {
  /** A staff test copy: "[TEST]" subject and its own Message-ID, so it is never taken for a delivery. */
  test?: boolean;
}

const unsubscribeToken = (recipient: Recipient, settings: MessageSettings) =>
  signUnsubscribeToken(settings.keys, recipient.subscriberId, recipient.listId);

/** Embargo lines by zone, per compiled email: thousands of recipients share a handful of zones. */
const embargoLines = new WeakMap<CompiledEmail, Map<string, string>>();
function embargoLocal(compiled: CompiledEmail | undefined, zone: string | null | undefined): string {
  if (!compiled?.embargo) return '';
  let lines = embargoLines.get(compiled);
  if (!lines) embargoLines.set(compiled, (lines = new Map()));
  const key = zone ?? '';
  let line = lines.get(key);
  if (line === undefined) lines.set(key, (line = embargoLine(compiled.embargo, zone)));
  return line;
}

/** What fills a recipient's slots; the preview shows the compiled email filled with exactly these. */
export function recipientValues(
  recipient: Recipient,
  settings: MessageSettings,
  token = unsubscribeToken(recipient, settings),
  compiled?: CompiledEmail,
): RecipientValues {
  return {
    name: recipient.name ?? 'colleague',
    email: recipient.email,
    list_name: recipient.listName,
    unsubscribe_url: `${settings.publicUrl}/unsubscribe/${token}`,
    preferences_url: `${settings.publicUrl}/preferences/${signPreferenceToken(settings.keys, recipient.subscriberId)}`,
    embargo_local: embargoLocal(compiled, recipient.timeZone),
    // The recipient's own key to the files of an advance copy (unused in other copies).
    file_key: fileKey(settings.keys, recipient.deliveryId),
  };
}

/**
 * One recipient's message: the compiled email with their values filled in, and the headers the
 * big mailbox providers require of bulk senders. The one place that decides a message's headers.
 */
export function personaliseMessage(
  compiled: CompiledEmail,
  recipient: Recipient,
  settings: MessageSettings,
  options: MessageOptions = {},
): PartedMessage {
  const token = unsubscribeToken(recipient, settings);
  const values = recipientValues(recipient, settings, token, compiled);
  const unsubscribe = values.unsubscribe_url;
  const subject = fill(compiled.subject, values, SLOT_ESCAPES.subject);
  const domain = senderDomain(settings.from);
  const headers: HeaderValues = {
    // RFC 2919: a list's identity is a label under our domain, with its name as the phrase.
    // Prepared, because nodemailer would otherwise encode the whole value, angle brackets included.
    'List-Id': { prepared: true, value: `${listPhrase(recipient.listName)} <${recipient.listSlug}.${domain}>` },
    // RFC 2369: the https link first (what RFC 8058 one-click uses), the mailbox as a fallback.
    'List-Unsubscribe': {
      prepared: true,
      value: `<${unsubscribe}>, <mailto:${settings.unsubscribeMailbox}?subject=unsubscribe%20${token}>`,
    },
    // RFC 8058: mailbox providers unsubscribe with one POST, no confirmation page.
    'List-Unsubscribe-Post': 'List-Unsubscribe=One-Click',
  };
  if (settings.feedbackId)
    headers['Feedback-ID'] = `${recipient.releaseId}:${recipient.listId}:release:${settings.feedbackId}`;
  return {
    from: settings.from,
    // The envelope sender is this delivery's signed bounce address; the From header stays the newsroom's.
    envelope: { from: verpAddress(settings.keys, recipient.deliveryId, settings.bounceDomain), to: recipient.email },
    to: recipient.name ? { name: recipient.name, address: recipient.email } : recipient.email,
    ...(compiled.replyTo ? { replyTo: compiled.replyTo } : {}),
    subject: options.test ? `[TEST] ${subject}` : subject,
    // The body parts come pre-built as MIME: nodemailer composes only the headers (and signs, with DKIM).
    ...mimeParts(compiled, values, { plainText: recipient.plainText ?? false }),
    ...(compiled.calendar ? { calendar: compiled.calendar } : {}),
    messageId: options.test
      ? `<release-${recipient.releaseId}.test-${Date.now().toString(36)}@${domain}>`
      : deliveryMessageId(recipient.releaseId, recipient.deliveryId, settings.from),
    headers,
    ...(settings.dkim ? { dkim: { ...settings.dkim, headerFieldNames: DKIM_SIGNED_HEADERS } } : {}),
  };
}
