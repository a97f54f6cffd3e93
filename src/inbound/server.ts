import { readFileSync } from 'node:fs';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerOptions, type SMTPServerSession } from 'smtp-server';
import type { Context } from '../context.js';
import { messageSettings } from '../mail/message.js';
import { verpDelivery } from '../mail/verp.js';
import { handleInbound, isUnsubscribeAddress, type Mailboxes } from './handle.js';

export interface InboundServer {
  port: number;
  close(): Promise<void>;
}

/** An SMTP reply that refuses a command: permanent (5xx) or "try again later" (4xx). */
function reply(code: number, message: string): Error {
  return Object.assign(new Error(message), { responseCode: code });
}

/** Counts mails per client address in one-minute windows: a flood is told to come back later. */
class PerMinute {
  private window = Math.floor(Date.now() / 60_000);
  private counts = new Map<string, number>();
  constructor(private readonly limit: number) {}
  allow(key: string): boolean {
    const now = Math.floor(Date.now() / 60_000);
    if (now !== this.window) {
      this.window = now;
      this.counts.clear();
    }
    const count = (this.counts.get(key) ?? 0) + 1;
    this.counts.set(key, count);
    return count <= this.limit;
  }
}

/**
 * `presslift inbound`: the SMTP server that the bounce domain's MX (and the unsubscribe mailbox's)
 * points at. It takes mail only for signed bounce addresses and the unsubscribe mailbox (anything
 * else is refused at RCPT TO, so it is no open relay nor a spam trap), within a size and a
 * per-client rate limit, and hands each mail to handleInbound. A mail whose delivery has no
 * recorded acceptance yet, or that meets a database outage, gets 451 so the sender retries.
 */
export async function startInbound(ctx: Context, port: number, host: string): Promise<InboundServer> {
  const { config } = ctx;
  const log = ctx.log.child({ role: 'inbound' });
  const settings = messageSettings(config, ctx.keys);
  const mailboxes: Mailboxes = { bounceDomain: settings.bounceDomain, unsubscribeMailbox: settings.unsubscribeMailbox };
  const rate = new PerMinute(config.INBOUND_RATE_PER_MINUTE);
  const tls =
    config.INBOUND_TLS_KEY_FILE && config.INBOUND_TLS_CERT_FILE
      ? { key: readFileSync(config.INBOUND_TLS_KEY_FILE), cert: readFileSync(config.INBOUND_TLS_CERT_FILE) }
      : null;

  const options: SMTPServerOptions = {
    name: settings.bounceDomain,
    banner: 'Presslift inbound: bounces, complaints and unsubscribe requests only',
    size: config.INBOUND_MAX_BYTES,
    maxClients: 100,
    socketTimeout: 60_000,
    authOptional: true,
    disabledCommands: tls ? ['AUTH'] : ['AUTH', 'STARTTLS'],
    ...(tls ?? {}),
    logger: false,
    onMailFrom(_address, session, callback) {
      if (!rate.allow(session.remoteAddress))
        return callback(reply(421, '4.7.0 Too many messages from your address; try again later'));
      callback();
    },
    onRcptTo(address, _session, callback) {
      const ours =
        verpDelivery(ctx.keys, address.address, mailboxes.bounceDomain) !== null ||
        isUnsubscribeAddress(address.address, mailboxes);
      if (!ours) return callback(reply(550, '5.1.1 No such mailbox here'));
      callback();
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => {
        if (!stream.sizeExceeded) chunks.push(chunk);
      });
      stream.on('end', () => {
        if (stream.sizeExceeded)
          return callback(reply(552, `5.3.4 Message larger than ${config.INBOUND_MAX_BYTES} bytes`));
        const recipients = session.envelope.rcptTo.map((r) => r.address);
        handleInbound(ctx, Buffer.concat(chunks), recipients, mailboxes).then(
          (handled) =>
            callback(
              handled.outcome === 'later'
                ? reply(451, '4.3.0 That message is not recorded yet; try again later')
                : null,
            ),
          (error: Error) => {
            // Our fault (PostgreSQL away, a bug): the sender keeps the mail and retries.
            log.error({ err: error.message }, 'inbound mail could not be handled');
            callback(reply(451, '4.3.0 Temporary failure; try again later'));
          },
        );
      });
    },
  };
  const server = new SMTPServer(options);
  server.on('error', (error) => log.warn({ err: error.message }, 'inbound SMTP error'));
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(port, host, () => resolve());
  });
  const address = server.server.address();
  const bound = typeof address === 'object' && address ? address.port : port;
  log.info({ host, port: bound, bounceDomain: mailboxes.bounceDomain }, 'inbound SMTP listening');
  return {
    port: bound,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
