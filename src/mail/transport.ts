import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import nodemailer, { type SendMailOptions, type Transporter } from 'nodemailer';
import type { Config } from '../config';

export interface SendOutcome {
  messageId: string;
  /** The relay's reply, e.g. "250 2.0.0 Ok: queued as 123". */
  response: string;
}

/** Where mail goes: a pooled SMTP relay, or the local outbox when none is configured. */
export interface Mailer {
  readonly description: string;
  send(message: SendMailOptions): Promise<SendOutcome>;
  close(): void;
}

export function createMailer(config: Config): Mailer {
  return config.SMTP_URL ? smtpMailer(config, config.SMTP_URL) : outboxMailer(config.OUTBOX_DIR);
}

function smtpMailer(config: Config, smtpUrl: string): Mailer {
  const transporter: Transporter = nodemailer.createTransport({
    url: smtpUrl,
    pool: true,
    maxConnections: config.SMTP_POOL_SIZE,
    maxMessages: Infinity,
    // Retries belong to BullMQ, with backoff and a budget; nodemailer must not requeue on its own.
    maxRequeues: 0,
    connectionTimeout: config.SMTP_TIMEOUT_MS,
    greetingTimeout: config.SMTP_TIMEOUT_MS,
    socketTimeout: config.SMTP_TIMEOUT_MS,
    disableFileAccess: true,
    disableUrlAccess: true,
  } as nodemailer.TransportOptions);
  const { hostname, port } = new URL(smtpUrl);
  return {
    description: `SMTP relay ${hostname}:${port || 25}`,
    async send(message) {
      const info = await transporter.sendMail(message);
      return { messageId: info.messageId, response: info.response };
    },
    close: () => transporter.close(),
  };
}

/** Writes each message as an .eml file, so a newcomer sees real emails without a relay. */
function outboxMailer(dir: string): Mailer {
  const transporter = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });
  let ready: Promise<unknown> | undefined;
  return {
    description: `local outbox ${dir}`,
    async send(message) {
      ready ??= mkdir(dir, { recursive: true });
      await ready;
      const info = await transporter.sendMail(message);
      const file = `${String(info.messageId).replace(/[<>]/g, '').replace(/[^A-Za-z0-9._@-]/g, '_')}.eml`;
      await writeFile(path.join(dir, file), info.message as Buffer);
      return { messageId: info.messageId, response: `250 written to ${file}` };
    },
    close: () => transporter.close(),
  };
}
