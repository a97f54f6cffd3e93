import type { SendMailOptions } from 'nodemailer';
import type DKIM from 'nodemailer/lib/dkim/index.js';
import type Mail from 'nodemailer/lib/mailer/index.js';
import mimeFuncs from 'nodemailer/lib/mime-funcs/index.js';
import MimeNode from 'nodemailer/lib/mime-node/index.js';
import type { MimeParts } from './body.js';

/**
 * A message whose body parts are pre-built MIME, assembled into one buffer sent as `raw`. Letting
 * nodemailer compose it (a tree of MIME nodes, a stream per part, an event-loop turn between
 * parts, random bytes for the boundary, every header parsed and encoded again) cost a sending
 * worker more than the rest of its work. Here the header lines are exactly the ones nodemailer
 * writes (tests/unit/mime-parts.test.ts compares the bytes): values shared by many messages
 * (From, Reply-To, the subject) are encoded by nodemailer once, plain ASCII values are written
 * directly, and anything else (a non-ASCII name) is still encoded by nodemailer. DKIM, when
 * configured, signs the raw message as it is sent.
 */
export type HeaderValues = Record<string, string | { prepared: true; value: string }>;
export type PartedMessage = Omit<SendMailOptions, 'to' | 'messageId' | 'headers'> &
  MimeParts & {
    to: Mail.Address | string;
    messageId: string;
    headers: HeaderValues;
    /** An iCalendar entry (METHOD:PUBLISH) attached as embargo.ics; the message becomes multipart/mixed. */
    calendar?: string;
  };

/**
 * The boundary never varies: it starts with "=_", which quoted-printable content cannot contain
 * ("=" there always begins an escape or a soft line break), so no body line can end a part early.
 */
export const BOUNDARY_OPTIONS = { baseBoundary: 'presslift', boundaryPrefix: '=_Presslift' } as const;

/** A header exactly as nodemailer writes it (encoded, folded), and the envelope it derives from it. */
function nodemailerHeader(
  key: string,
  value: unknown,
): { line: string; envelope: { from: string | false; to: string[] } } {
  const node = new MimeNode('text/plain', BOUNDARY_OPTIONS);
  node.setHeader(key, value as string);
  return {
    line: headerLine(node.buildHeaders(), key),
    envelope: node.getEnvelope() as { from: string | false; to: string[] },
  };
}

/** One header field of a header block, with its folded continuation lines. */
function headerLine(block: string, key: string): string {
  const lines = block.split('\r\n');
  const first = lines.findIndex((line) => line.toLowerCase().startsWith(`${key.toLowerCase()}:`));
  let last = first + 1;
  while (last < lines.length && /^[ \t]/.test(lines[last]!)) last++;
  return lines.slice(first, last).join('\r\n');
}

/** nodemailer's encodings of values that recur across messages; bounded, as subjects may be personalised. */
const recurring = new Map<string, ReturnType<typeof nodemailerHeader>>();
function recurringHeader(key: string, value: unknown): ReturnType<typeof nodemailerHeader> {
  const cacheKey = `${key}\n${JSON.stringify(value)}`;
  let encoded = recurring.get(cacheKey);
  if (!encoded) {
    if (recurring.size >= 1_000) recurring.clear();
    encoded = nodemailerHeader(key, value);
    recurring.set(cacheKey, encoded);
  }
  return encoded;
}

/** A header name as nodemailer spells it (it writes "List-Id" as "List-ID"). */
const headerName = (key: string) => recurringHeader(key, { prepared: true, value: '-' }).line.slice(0, key.length);

const MULTIPART = (() => {
  const root = new MimeNode('multipart/alternative', BOUNDARY_OPTIONS);
  return { contentType: headerLine(root.buildHeaders(), 'Content-Type'), boundary: `--${String(root.boundary)}` };
})();

/**
 * The outer boundary of a message with an attachment; like the inner one it starts with "=_" (see BOUNDARY_OPTIONS).
 */
const MIXED = (() => {
  const boundary = '=_Presslift-mixed';
  return { contentType: `Content-Type: multipart/mixed; boundary="${boundary}"`, boundary: `--${boundary}` };
})();

/** The calendar part, base64 in lines of 76; shared by every copy of a version, so built once. */
const calendarParts = new Map<string, Buffer>();
function calendarPart(calendar: string): Buffer {
  let part = calendarParts.get(calendar);
  if (!part) {
    const encoded = Buffer.from(calendar, 'utf8').toString('base64').replace(/.{76}/g, '$&\r\n').replace(/\r\n$/, '');
    part = Buffer.from(
      'Content-Type: text/calendar; charset=utf-8; method=PUBLISH; name="embargo.ics"\r\n' +
        'Content-Transfer-Encoding: base64\r\nContent-Disposition: attachment; filename="embargo.ics"\r\n\r\n' +
        encoded,
    );
    if (calendarParts.size >= 50) calendarParts.clear();
    calendarParts.set(calendar, part);
  }
  return part;
}

/** The To line and the recipient's envelope address, encoded as nodemailer does, for a plain address. */
function recipientHeader(to: Mail.Address | string): { line: string; address: string } {
  const { name = '', address = '' } = typeof to === 'string' ? { address: to } : to;
  if (!/^[\x21-\x3b\x3d\x3f-\x7e]+@[a-z0-9.-]+$/.test(address)) {
    // Upper case or an international domain: nodemailer normalises the address too.
    const { line, envelope } = nodemailerHeader('To', to);
    return { line, address: envelope.to[0]! };
  }
  const value = name ? `${addressPhrase(name)} <${address}>` : address;
  return { line: mimeFuncs.foldLines(`To: ${value}`, 76), address };
}

/** A display name as nodemailer writes it: bare, quoted, or an encoded word (Q when mostly Latin, else B). */
function addressPhrase(name: string): string {
  if (/^[\w ]*$/.test(name)) return name;
  if (/^[\x20-\x7e]*$/.test(name)) return `"${name.replace(/([\\"])/g, '\\$1')}"`;
  // Counting the characters an encoded word must carry, control characters among them.
  // eslint-disable-next-line no-control-regex
  const nonLatin = (name.match(/[\x00-\x08\x0B\x0C\x0E-\x1F\u0080-\uFFFF]/g) ?? []).length;
  const latin = (name.match(/[a-z]/gi) ?? []).length;
  return mimeFuncs.encodeWord(name, nonLatin < latin ? 'Q' : 'B', 52);
}

/** A message ready for the wire: its envelope and raw bytes, and the DKIM key that signs them as they go. */
export interface OutgoingMessage {
  envelope: { from: string; to: string[] };
  raw: Buffer;
  messageId: string;
  dkim?: DKIM.Options;
}

export function assembleMessage(message: PartedMessage): OutgoingMessage {
  const { html, text, headers, dkim } = message;
  const lines: string[] = [];
  for (const [key, value] of Object.entries(headers)) {
    lines.push(typeof value === 'object' ? `${headerName(key)}: ${value.value}` : recurringHeader(key, value).line);
  }
  const from = recurringHeader('From', message.from);
  const to = recipientHeader(message.to);
  lines.push(from.line, to.line);
  if (message.replyTo) lines.push(recurringHeader('Reply-To', message.replyTo).line);
  lines.push(recurringHeader('Subject', message.subject).line);
  lines.push(
    `Message-ID: ${message.messageId}`,
    `Date: ${new Date().toUTCString().replace(/GMT/, '+0000')}`,
    'MIME-Version: 1.0',
  );
  // The body: text and HTML as alternatives (or the text part alone, for plain text only), and with
  // a calendar entry, that body and the entry as the parts of a multipart/mixed.
  const { boundary } = MULTIPART;
  const body = html
    ? Buffer.concat([
        Buffer.from(`${MULTIPART.contentType}\r\n\r\n${boundary}\r\n`),
        text.raw,
        Buffer.from(`\r\n${boundary}\r\n`),
        html.raw,
        Buffer.from(`\r\n${boundary}--\r\n`),
      ])
    : text.raw;
  const raw = message.calendar
    ? Buffer.concat([
        Buffer.from(`${lines.join('\r\n')}\r\n${MIXED.contentType}\r\n\r\n${MIXED.boundary}\r\n`),
        body,
        Buffer.from(`\r\n${MIXED.boundary}\r\n`),
        calendarPart(message.calendar),
        Buffer.from(`\r\n${MIXED.boundary}--\r\n`),
      ])
    : Buffer.concat([Buffer.from(`${lines.join('\r\n')}\r\n`), body]);
  return {
    // The envelope sender is the message's own bounce address when it names one, else the From address.
    envelope: { from: message.envelope?.from || from.envelope.from || '', to: [to.address] },
    raw,
    messageId: message.messageId,
    ...(dkim ? { dkim } : {}),
  };
}
