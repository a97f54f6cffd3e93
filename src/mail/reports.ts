import { simpleParser, type ParsedMail } from 'mailparser';

/**
 * Reads what arrives at the bounce and unsubscribe addresses: a delivery status notification
 * (RFC 3464), a complaint in the Abuse Reporting Format (RFC 5965), or anything else (an
 * auto-reply, a person writing back). Pure parsing: what it means for our deliveries is decided in
 * feedback.ts, and nothing here trusts an address it reads (only a signed bounce address names a delivery).
 */

export interface DsnRecipient {
  /** The address the report is about (Final-Recipient), lowercased. */
  recipient: string | null;
  /** failed, delayed, delivered, relayed or expanded. */
  action: string;
  /** The enhanced status code (RFC 3463), e.g. 5.1.1. */
  status: string;
  /** The remote server's own words, e.g. "smtp; 550 5.1.1 user unknown". */
  diagnostic: string | null;
}

export type InboundReport =
  | { type: 'dsn'; recipients: DsnRecipient[]; senders: string[]; subject: string }
  | { type: 'arf'; feedbackType: string; recipient: string | null; senders: string[]; subject: string }
  | { type: 'other'; subject: string; from: string | null }
  | { type: 'malformed'; reason: string };

/** A block of header-style fields (RFC 822 syntax, folded lines unfolded), by lowercased name. */
type Fields = Map<string, string>;

/** Splits "field: value" groups separated by blank lines, as in message/delivery-status. */
export function fieldGroups(text: string): Fields[] {
  const groups: Fields[] = [];
  for (const block of text.replace(/\r\n?/g, '\n').split(/\n[ \t]*\n/)) {
    const fields: Fields = new Map();
    let last: string | null = null;
    for (const line of block.split('\n')) {
      if (/^[ \t]/.test(line) && last) {
        fields.set(last, `${fields.get(last)!} ${line.trim()}`);
        continue;
      }
      const match = /^([!-9;-~]+):[ \t]*(.*)$/.exec(line);
      if (!match) continue;
      last = match[1]!.toLowerCase();
      // A field that repeats keeps its first value (a report has one of each per group).
      if (!fields.has(last)) fields.set(last, match[2]!.trim());
    }
    if (fields.size > 0) groups.push(fields);
  }
  return groups;
}

/** "rfc822; someone@example.org" → "someone@example.org" (the address type prefix dropped). */
function typedAddress(value: string | undefined): string | null {
  if (!value) return null;
  const address = value.includes(';') ? value.slice(value.indexOf(';') + 1) : value;
  const clean = address.trim().replace(/^<|>$/g, '').toLowerCase();
  return clean.includes('@') ? clean : null;
}

/**
 * The envelope senders the returned original carried: its Return-Path, as the final MTA wrote it.
 * Read from the raw body, since a message/rfc822 part is never transfer-encoded (RFC 2046 5.2.1)
 * and parsers render an inline one into the text.
 */
function originalSenders(raw: Buffer): string[] {
  const text = raw.toString('latin1');
  const body = text.slice(text.search(/\r?\n\r?\n/) + 1);
  return [...body.matchAll(/^Return-Path:[ \t]*<?([^<>\s]+@[^<>\s]+)>?[ \t]*$/gim)].map((m) => m[1]!.toLowerCase());
}

const attachment = (mail: ParsedMail, ...types: string[]) =>
  mail.attachments.find((a) => types.includes(a.contentType.toLowerCase()))?.content;

export async function readReport(raw: Buffer): Promise<InboundReport> {
  let mail: ParsedMail;
  try {
    mail = await simpleParser(raw, {
      keepDeliveryStatus: true,
      skipHtmlToText: true,
      skipTextToHtml: true,
      skipImageLinks: true,
    });
  } catch (error) {
    return { type: 'malformed', reason: `unreadable MIME: ${(error as Error).message}` };
  }
  const contentType = mail.headers.get('content-type') as
    { value?: string; params?: Record<string, string> } | undefined;
  const reportType =
    contentType?.value?.toLowerCase() === 'multipart/report'
      ? contentType.params?.['report-type']?.toLowerCase()
      : undefined;
  const subject = mail.subject ?? '';

  if (reportType === 'delivery-status') {
    const status = attachment(mail, 'message/delivery-status', 'message/global-delivery-status');
    if (!status)
      return { type: 'malformed', reason: 'a delivery-status report without its message/delivery-status part' };
    const [perMessage, ...perRecipient] = fieldGroups(status.toString('utf8'));
    const recipients = perRecipient
      .filter((f) => f.has('action') && f.has('status'))
      .map((f) => ({
        recipient: typedAddress(f.get('final-recipient') ?? f.get('original-recipient')),
        action: f.get('action')!.toLowerCase(),
        status: /\d\.\d{1,3}\.\d{1,3}/.exec(f.get('status')!)?.[0] ?? f.get('status')!,
        diagnostic: f.get('diagnostic-code')?.slice(0, 1000) ?? null,
      }));
    if (!perMessage || recipients.length === 0)
      return { type: 'malformed', reason: 'a delivery-status report naming no recipient with an action and a status' };
    const senders = [...originalSenders(raw), typedAddress(perMessage.get('x-postfix-sender'))].filter(
      (s): s is string => !!s,
    );
    return { type: 'dsn', recipients, senders, subject };
  }

  if (reportType === 'feedback-report') {
    const report = attachment(mail, 'message/feedback-report');
    const fields = report ? fieldGroups(report.toString('utf8'))[0] : undefined;
    const feedbackType = fields?.get('feedback-type')?.toLowerCase();
    if (!fields || !feedbackType)
      return {
        type: 'malformed',
        reason: 'a feedback report without its message/feedback-report part or Feedback-Type',
      };
    const senders = [typedAddress(fields.get('original-mail-from')), ...originalSenders(raw)].filter(
      (s): s is string => !!s,
    );
    return { type: 'arf', feedbackType, recipient: typedAddress(fields.get('original-rcpt-to')), senders, subject };
  }

  return { type: 'other', subject, from: mail.from?.value[0]?.address?.toLowerCase() ?? null };
}
