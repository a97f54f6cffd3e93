import { mkdir, writeFile } from 'node:fs/promises';
import net from 'node:net';
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

/**
 * nodemailer's `getSocket` hook: a plain TCP connection with Nagle's algorithm off. SMTP is a
 * dialogue of small writes (the end of DATA, then the next MAIL FROM); with Nagle on, each waits
 * for the relay's delayed ACK, about 40 ms a message per connection.
 * A connect error is never returned through the hook: nodemailer 7 then never frees the pool slot,
 * and after as many refused connections as the pool has slots, sending hangs for good (the relay
 * outage chaos scenario caught it). The failed socket is handed over instead, and its error raised
 * again once nodemailer listens, so the pool drops that connection as it does its own.
 */
export function noDelaySocket(
  options: { host?: string; port?: number; connectionTimeout?: number },
  callback: (error: Error | null, socket?: { connection: net.Socket }) => void,
): void {
  const socket = net.connect({ host: options.host, port: options.port ?? 25, noDelay: true });
  const timer = setTimeout(() => socket.destroy(new Error(`connection to ${options.host}:${options.port} timed out`)), options.connectionTimeout ?? 30_000);
  const onError = (error: Error) => {
    clearTimeout(timer);
    callback(null, { connection: socket });
    // nodemailer attaches its listener synchronously; the no-op keeps a stray re-emit from throwing.
    socket.on('error', () => {});
    socket.emit('error', error);
  };
  socket.once('error', onError);
  socket.once('connect', () => {
    clearTimeout(timer);
    socket.off('error', onError);
    callback(null, { connection: socket });
  });
}

/**
 * The relay's address and credentials as nodemailer options. Not passed as `url`: given a url,
 * createTransport keeps only what the url says and silently drops every other option (pool,
 * timeouts, maxRequeues), leaving one new connection per message.
 */
export function relayOptions(smtpUrl: string) {
  const url = new URL(smtpUrl);
  const secure = url.protocol === 'smtps:';
  return {
    host: url.hostname,
    port: Number(url.port) || (secure ? 465 : 25),
    secure,
    ...(url.username ? { auth: { user: decodeURIComponent(url.username), pass: decodeURIComponent(url.password) } } : {}),
  };
}

function smtpMailer(config: Config, smtpUrl: string): Mailer {
  const relay = relayOptions(smtpUrl);
  const transporter: Transporter = nodemailer.createTransport({
    ...relay,
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
    getSocket: noDelaySocket,
  } as nodemailer.TransportOptions);
  return {
    description: `SMTP relay ${relay.host}:${relay.port}`,
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
