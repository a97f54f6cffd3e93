import type { Socket } from 'node:net';
import type SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';

/** An error as nodemailer's SMTPConnection makes them (and classifySmtpError reads them). */
export type SmtpReplyError = Error & { code: string; response?: string; responseCode?: number; command: string };

/**
 * The parts of nodemailer's SMTPConnection (pinned in package.json) the pipelined transaction
 * uses: the extensions the relay announced, the queue of reply handlers its reply parser calls in
 * order, and the socket (the TLS one after STARTTLS). It keeps the greeting, EHLO, STARTTLS, AUTH,
 * reply parsing, timeouts and errors; only the transaction is ours.
 */
interface ConnectionInternals {
  _supportedExtensions: string[];
  _responseActions: Array<(reply: string) => void>;
  _socket: Socket;
  _destroyed: boolean;
}

const internals = (connection: SMTPConnection) => connection as unknown as ConnectionInternals;

/** Whether the relay announced PIPELINING (RFC 2920) on this connection. */
export function offersPipelining(connection: SMTPConnection): boolean {
  return internals(connection)._supportedExtensions.includes('PIPELINING');
}

/** Whether `pipelinedSend` can carry this envelope (ASCII addresses: no SMTPUTF8 parameter needed). */
export function pipelinable(envelope: { from: string; to: string[] }): boolean {
  return (
    envelope.to.length > 0 &&
    [envelope.from, ...envelope.to].every((address) => /^[\x21-\x7e]*$/.test(address) && !/[<>]/.test(address))
  );
}

function replyError(message: string, code: string, reply: string, command: string): SmtpReplyError {
  const error = new Error(`${message}: ${reply}`) as SmtpReplyError;
  error.code = code;
  error.response = reply;
  const responseCode = Number(/^\d+/.exec(reply)?.[0]);
  if (responseCode) error.responseCode = responseCode;
  error.command = command;
  return error;
}

const LF = 0x0a;
const CR = 0x0d;
const DOT = 0x2e;

/**
 * The message as it goes after DATA, in one buffer: every line starting with a dot gets a second
 * one, a bare LF becomes CRLF, and the terminating "." line is appended — byte for byte what
 * nodemailer's DataStream writes for the same message (a property test holds the two together).
 * It jumps from line end to line end with the native indexOf rather than looking at every byte,
 * and copies the message once.
 */
export function dotStuff(raw: Buffer): Buffer {
  // Where a byte must be inserted before raw[at]: a dot before a leading dot, a CR before a bare LF.
  const inserts: Array<{ at: number; byte: number }> = [];
  if (raw[0] === DOT) inserts.push({ at: 0, byte: DOT });
  for (let at = raw.indexOf(LF); at !== -1; at = raw.indexOf(LF, at + 1)) {
    if (at === 0 || raw[at - 1] !== CR) inserts.push({ at, byte: CR });
    if (raw[at + 1] === DOT) inserts.push({ at: at + 1, byte: DOT });
  }
  const last = raw.length > 0 ? raw[raw.length - 1] : undefined;
  const end = last === LF ? '.\r\n' : last === CR ? '\n.\r\n' : '\r\n.\r\n';
  const out = Buffer.allocUnsafe(raw.length + inserts.length + end.length);
  let from = 0;
  let to = 0;
  for (const { at, byte } of inserts) {
    to += raw.copy(out, to, from, at);
    out[to++] = byte;
    from = at;
  }
  to += raw.copy(out, to, from);
  out.write(end, to, 'latin1');
  return out;
}

/**
 * One mail transaction with PIPELINING (RFC 2920): MAIL FROM, every RCPT TO and DATA leave in one
 * write, their replies are read in order, and once DATA's 354 is in the message (dot-stuffed and
 * terminated, see dotStuff) leaves in a second write. Two round trips a message instead of four.
 *
 * Refusals end it as nodemailer's own transaction would, with the same kind of error: MAIL FROM
 * refused, or every recipient refused ("all recipients were rejected", with the last refusal's
 * code), or DATA or the message refused. When every recipient was refused the relay refuses DATA
 * too (RFC 2920 §3.1), and the message is never written. Replies still due after an early
 * refusal are read and dropped; the pool closes a connection whose transaction failed anyway.
 */
export function pipelinedSend(
  connection: SMTPConnection,
  envelope: { from: string; to: string[] },
  raw: Buffer,
): Promise<string> {
  const conn = internals(connection);
  return new Promise((resolve, reject) => {
    let settled = false;
    const fail = (error: SmtpReplyError) => {
      if (settled) return;
      settled = true;
      reject(error);
    };
    let mailRefusal: string | undefined;
    let accepted = 0;
    let lastRefusal = '';
    conn._responseActions.push((reply) => {
      if (reply[0] !== '2') mailRefusal = reply;
    });
    for (const _ of envelope.to) {
      conn._responseActions.push((reply) => {
        if (reply[0] === '2') accepted += 1;
        else lastRefusal = reply;
      });
    }
    conn._responseActions.push((reply) => {
      if (mailRefusal !== undefined)
        return fail(replyError('Mail command failed', 'EENVELOPE', mailRefusal, 'MAIL FROM'));
      if (accepted === 0)
        return fail(replyError("Can't send mail - all recipients were rejected", 'EENVELOPE', lastRefusal, 'RCPT TO'));
      // 354, or 250 from the odd server (nodemailer accepts both).
      if (reply[0] !== '2' && reply[0] !== '3')
        return fail(replyError('Data command failed', 'EENVELOPE', reply, 'DATA'));
      conn._responseActions.push((final) => {
        if (final[0] !== '2') return fail(replyError('Message failed', 'EMESSAGE', final, 'DATA'));
        settled = true;
        resolve(final);
      });
      conn._socket.write(dotStuff(raw));
    });
    const commands = `MAIL FROM:<${envelope.from}>\r\n${envelope.to.map((to) => `RCPT TO:<${to}>\r\n`).join('')}DATA\r\n`;
    conn._socket.write(commands, 'latin1');
  });
}
