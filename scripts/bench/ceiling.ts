import net from 'node:net';
import nodemailer from 'nodemailer';
import { relayOptions } from '../../src/mail/transport.js';
import type { OutgoingMessage } from '../../src/mail/assemble.js';
import { SmtpPool } from '../../src/mail/smtp-pool.js';

export interface Ceiling {
  msgsPerS: number;
  bytes: number;
}

/** Sends `count` messages through `send`, with a bounded window in flight (an unbounded queue would measure queue handling, not the wire). */
async function timedSends(count: number, window: number, send: () => Promise<unknown>): Promise<number> {
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < count) {
      next += 1;
      await send();
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  return count / ((performance.now() - started) / 1000);
}

/**
 * The same-run ceiling: a bare nodemailer pool sending one pre-built message `count` times
 * to the sink. Nagle is off, as it should be for any SMTP client here.
 */
export async function nodemailerPoolCeiling(
  smtpUrl: string,
  message: OutgoingMessage,
  count: number,
  poolSize: number,
): Promise<Ceiling> {
  const relay = relayOptions(smtpUrl);
  const getSocket = (
    _options: unknown,
    callback: (error: Error | null, socket?: { connection: net.Socket }) => void,
  ) => {
    const socket = net.connect({ host: relay.host, port: relay.port, noDelay: true });
    socket.once('connect', () => callback(null, { connection: socket }));
    socket.once('error', (error) => callback(error));
  };
  const transporter = nodemailer.createTransport({
    ...relay,
    pool: true,
    maxConnections: poolSize,
    maxMessages: Infinity,
    getSocket,
  } as nodemailer.TransportOptions);
  const { envelope, raw } = message;
  const msgsPerS = await timedSends(count, poolSize * 4, () => transporter.sendMail({ envelope, raw }));
  transporter.close();
  return { msgsPerS, bytes: raw.length };
}

/**
 * A stricter ceiling: Presslift's own SMTP pool sending one pre-built message `count` times, so
 * everything a worker does besides the wire (claiming, personalising, recording) shows as the gap.
 */
export async function ownPoolCeiling(
  smtpUrl: string,
  message: OutgoingMessage,
  count: number,
  poolSize: number,
): Promise<Ceiling> {
  const pool = new SmtpPool({ ...relayOptions(smtpUrl), size: poolSize, timeoutMs: 30_000 });
  const msgsPerS = await timedSends(count, poolSize * 4, () => pool.send(message.envelope, message.raw));
  pool.close();
  return { msgsPerS, bytes: message.raw.length };
}
