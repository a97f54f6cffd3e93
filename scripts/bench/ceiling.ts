import nodemailer from 'nodemailer';
import MailComposer from 'nodemailer/lib/mail-composer';
import type { SendMailOptions } from 'nodemailer';
import { noDelaySocket, relayOptions } from '../../src/mail/transport';

/**
 * The same-run ceiling: a bare nodemailer pool sending one pre-built message `count` times to the
 * sink, with a bounded window of messages in flight (an unbounded queue would measure nodemailer's
 * queue handling rather than the wire). Nagle is off, as it should be for any SMTP client here.
 * Returns messages per second.
 */
export async function measureCeiling(smtpUrl: string, message: SendMailOptions, count: number, poolSize: number): Promise<{ msgsPerS: number; bytes: number }> {
  const raw = await new MailComposer(message).compile().build();
  const transporter = nodemailer.createTransport({ ...relayOptions(smtpUrl), pool: true, maxConnections: poolSize, maxMessages: Infinity, getSocket: noDelaySocket } as nodemailer.TransportOptions);
  const envelope = { from: 'bench@presslift.localhost', to: 'ceiling@bench.example.org' };
  const window = poolSize * 4;
  let next = 0;
  const started = performance.now();
  const lane = async () => {
    while (next < count) {
      next += 1;
      await transporter.sendMail({ envelope, raw });
    }
  };
  await Promise.all(Array.from({ length: window }, lane));
  const seconds = (performance.now() - started) / 1000;
  transporter.close();
  return { msgsPerS: count / seconds, bytes: raw.length };
}
