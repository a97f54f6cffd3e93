import type { SendMailOptions } from 'nodemailer';
import MimeNode from 'nodemailer/lib/mime-node';
import type { MimeParts } from './body';

/**
 * A message whose body parts are pre-built MIME, assembled into one buffer sent as `raw`. Letting
 * nodemailer compose it (a tree of MIME nodes, a stream per part, an event-loop turn between
 * parts, random bytes for the boundary) cost a sending worker more than the rest of its work;
 * here nodemailer still encodes the headers (non-ASCII names, folding), synchronously, and DKIM
 * still signs the raw message as it is sent.
 */
export type PartedMessage = SendMailOptions & MimeParts;

/**
 * The boundary never varies: it starts with "=_", which quoted-printable content cannot contain
 * ("=" there always begins an escape or a soft line break), so no body line can end a part early.
 */
export const BOUNDARY_OPTIONS = { baseBoundary: 'presslift', boundaryPrefix: '=_Presslift' } as const;

/** Header fields nodemailer's composer sets on the root node, in its order. */
const ROOT_FIELDS = ['from', 'sender', 'to', 'cc', 'replyTo', 'inReplyTo', 'references', 'subject', 'messageId', 'date'] as const;
const headerName = (field: string) => field.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);

export function assembleMessage(message: PartedMessage): SendMailOptions {
  const { html, text, headers, dkim } = message;
  const root = new MimeNode('multipart/alternative', BOUNDARY_OPTIONS);
  if (headers) root.addHeader(headers as never);
  for (const field of ROOT_FIELDS) if (message[field]) root.setHeader(headerName(field), message[field] as never);
  const head = root.buildHeaders();
  const boundary = `--${String(root.boundary)}`;
  const raw = Buffer.concat([Buffer.from(`${head}\r\n\r\n${boundary}\r\n`), text.raw, Buffer.from(`\r\n${boundary}\r\n`), html.raw, Buffer.from(`\r\n${boundary}--\r\n`)]);
  return {
    envelope: root.getEnvelope() as SendMailOptions['envelope'],
    raw,
    // Given, so nodemailer does not draw a random Message-ID for the raw message it wraps.
    messageId: String(root.getHeader('Message-ID')),
    ...(dkim ? { dkim } : {}),
  };
}
