import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer from 'nodemailer';
import DKIM from 'nodemailer/lib/dkim/index.js';
import type { Config } from '../config.js';
import type { OutgoingMessage } from './assemble.js';
import { NotHandedOver, SmtpPool, type HandOverCheck, type RelayAddress } from './smtp-pool.js';

export interface SendOutcome {
  messageId: string;
  /** The relay's reply, e.g. "250 2.0.0 Ok: queued as 123". */
  response: string;
}

/** Where mail goes: a pooled SMTP relay, or the local outbox when none is configured. */
export interface Mailer {
  readonly description: string;
  /** Rejects with NotHandedOver, having sent nothing, when `mayHandOver` answers no at the moment of handing over. */
  send(message: OutgoingMessage, mayHandOver?: HandOverCheck): Promise<SendOutcome>;
  /** Opens the relay connections the next sends will use; the lift calls it before its instant. */
  warm(): Promise<void>;
  close(): void;
}

export function createMailer(config: Config): Mailer {
  return config.SMTP_URL ? smtpMailer(config, config.SMTP_URL) : outboxMailer(config.OUTBOX_DIR);
}

/** The relay's address and credentials, from SMTP_URL (smtp:// or smtps://, with optional user:password). */
export function relayOptions(smtpUrl: string): RelayAddress {
  const url = new URL(smtpUrl);
  const secure = url.protocol === 'smtps:';
  return {
    host: url.hostname,
    port: Number(url.port) || (secure ? 465 : 25),
    secure,
    ...(url.username
      ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } }
      : {}),
  };
}

function smtpMailer(config: Config, smtpUrl: string): Mailer {
  const relay = relayOptions(smtpUrl);
  const pool = new SmtpPool({ ...relay, size: config.SMTP_POOL_SIZE, timeoutMs: config.SMTP_TIMEOUT_MS });
  return {
    description: `SMTP relay ${relay.host}:${relay.port}`,
    async send(message, mayHandOver) {
      // DKIM signs the message exactly as it goes out, after personalisation.
      const content = message.dkim ? new DKIM(message.dkim).sign(message.raw) : message.raw;
      const response = await pool.send(message.envelope, content, mayHandOver);
      return { messageId: message.messageId, response };
    },
    warm: () => pool.warm(),
    close: () => pool.close(),
  };
}

/** Writes each message as an .eml file, so a newcomer sees real emails without a relay. */
function outboxMailer(dir: string): Mailer {
  const transporter = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  let ready: Promise<unknown> | undefined;
  return {
    description: `local outbox ${dir}`,
    async send(message, mayHandOver) {
      ready ??= mkdir(dir, { recursive: true });
      await ready;
      if (mayHandOver && !mayHandOver()) throw new NotHandedOver();
      const info = await transporter.sendMail(message);
      const file = `${String(info.messageId)
        .replace(/[<>]/g, '')
        .replace(/[^A-Za-z0-9._@-]/g, '_')}.eml`;
      await writeFile(path.join(dir, file), info.message as Buffer);
      return { messageId: info.messageId, response: `250 written to ${file}` };
    },
    warm: async () => {},
    close: () => transporter.close(),
  };
}
