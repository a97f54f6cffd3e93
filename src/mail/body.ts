import type Mail from 'nodemailer/lib/mailer/index.js';
import { encode as qpEncode, wrap as qpWrap } from 'nodemailer/lib/qp/index.js';
import { SLOT_PATTERN, type CompiledEmail } from '../render/compile.js';
import { fill, SLOT_ESCAPES, type RecipientValues } from '../render/personalise.js';

/**
 * The text/html and text/plain parts of a message, built as MIME once per release version and
 * personalised by substitution. Composing a 30 KB part per message (choosing its encoding, then
 * quoted-printable encoding and wrapping all of it) was most of a worker's CPU; here only the few
 * lines that carry a recipient's values are encoded per message, after the values are filled in
 * and escaped for their context, so every line still wraps at 76 characters however long the
 * value (a signed unsubscribe URL is longer than a line) and non-ASCII names come out as UTF-8.
 */

/** A run of already-encoded lines (as bytes), or one source line with slots, encoded per recipient. */
type Segment = Buffer | { slotted: string };

interface PartTemplate {
  head: Buffer;
  segments: Segment[];
  escape: (value: string) => string;
}

/** A MIME part nodemailer passes through as it is (its headers included). */
type RawPart = Mail.AttachmentLike & { raw: Buffer };

export interface MimeParts {
  /** Absent when the recipient asked for plain text only. */
  html?: RawPart;
  text: RawPart;
}

const encodeLine = (line: string) => qpWrap(qpEncode(line), 76);
const CRLF = Buffer.from('\r\n');

function partTemplate(contentType: string, source: string, escape: (value: string) => string): PartTemplate {
  const segments: Segment[] = [];
  let encoded: string[] = [];
  for (const line of source.split(/\r?\n/)) {
    SLOT_PATTERN.lastIndex = 0;
    if (!SLOT_PATTERN.test(line)) {
      encoded.push(encodeLine(line));
      continue;
    }
    if (encoded.length > 0) segments.push(Buffer.from(encoded.join('\r\n')));
    encoded = [];
    segments.push({ slotted: line });
  }
  if (encoded.length > 0) segments.push(Buffer.from(encoded.join('\r\n')));
  return {
    head: Buffer.from(
      `Content-Type: ${contentType}; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n`,
    ),
    segments,
    escape,
  };
}

/** Copies the shared bytes as they are; only the lines with slots are filled and encoded. */
function personalisePart(part: PartTemplate, values: RecipientValues): RawPart {
  const chunks = [part.head];
  part.segments.forEach((segment, i) => {
    if (i > 0) chunks.push(CRLF);
    chunks.push(
      Buffer.isBuffer(segment) ? segment : Buffer.from(encodeLine(fill(segment.slotted, values, part.escape))),
    );
  });
  return { raw: Buffer.concat(chunks) };
}

const prepared = new WeakMap<CompiledEmail, { html: PartTemplate; text: PartTemplate }>();

/** Encodes the shared lines of a compiled email's parts, once per compiled email in this process. */
export function prepareMimeParts(compiled: CompiledEmail): { html: PartTemplate; text: PartTemplate } {
  let parts = prepared.get(compiled);
  if (!parts) {
    parts = {
      html: partTemplate('text/html', compiled.html, SLOT_ESCAPES.html),
      text: partTemplate('text/plain', compiled.text, SLOT_ESCAPES.text),
    };
    prepared.set(compiled, parts);
  }
  return parts;
}

/** One recipient's body parts, as nodemailer `raw` parts (the text part alone for plain text). */
export function mimeParts(
  compiled: CompiledEmail,
  values: RecipientValues,
  options: { plainText?: boolean } = {},
): MimeParts {
  const parts = prepareMimeParts(compiled);
  const text = personalisePart(parts.text, values);
  return options.plainText ? { text } : { html: personalisePart(parts.html, values), text };
}
