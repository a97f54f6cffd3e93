import net from 'node:net';
import type { Readable } from 'node:stream';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import { offersPipelining, pipelinable, pipelinedSend } from './smtp-transaction.js';

export interface RelayAddress {
  host: string;
  port: number;
  /** Implicit TLS (smtps, port 465); a plain connection still upgrades when the relay offers STARTTLS. */
  secure: boolean;
  auth?: { user: string; pass: string };
}

export interface PoolOptions extends RelayAddress {
  /** Connections open at most at once. */
  size: number;
  /** Bounds connecting, the greeting and each wait for a reply. */
  timeoutMs: number;
}

export interface Envelope {
  from: string;
  to: string[];
}

/** An error from a connection, as classifySmtpError reads it (a reply carries responseCode). */
type SmtpError = Error & { code?: string; responseCode?: number; response?: string };

/**
 * A send the caller withdrew at the last moment, when a connection was ready for it: the message
 * was never handed to the relay (no MAIL FROM was written), so it may be sent again later.
 */
export class NotHandedOver extends Error {
  constructor() {
    super('the message was withdrawn before it was handed to the relay');
  }
}

/**
 * An address with non-ASCII characters (RFC 6531) needs the relay to offer SMTPUTF8; without it
 * the message is not handed over at all (a relay would garble or refuse the address), and the
 * delivery fails with this reason: permanent for this relay, but no fault of the address, so it
 * is not suppressed (see classifySmtpError).
 */
export class SmtpUtf8Unavailable extends Error {
  readonly code = 'ESMTPUTF8';
  constructor() {
    super('553 5.6.7 not sent: the address has non-ASCII characters and the relay does not offer SMTPUTF8 (RFC 6531)');
  }
}

/** Whether an envelope needs SMTPUTF8: a non-ASCII sender or recipient. */
export const needsSmtpUtf8 = (envelope: Envelope) =>
  [envelope.from, ...envelope.to].some((address) => /[^\p{ASCII}]/u.test(address));

/**
 * Asked once a connection is ready for the message: may it still be handed over? Synchronous, and
 * MAIL FROM follows at once, so what the check decides is what holds when the message leaves.
 */
export type HandOverCheck = () => boolean;

interface Lease {
  connection: SMTPConnection;
  /** Ends the send in flight on this connection, if any, with its error. */
  fail?: (error: SmtpError) => void;
}

/**
 * A pool of SMTP connections to one relay, built on nodemailer's SMTPConnection (which speaks the
 * protocol: greeting, EHLO, STARTTLS, AUTH, dot-stuffing, replies) and handing it whole raw
 * messages. nodemailer's own pool transport wraps each raw message in a MIME node and a stream
 * and queues it, for about 40% more CPU a message than the connection's own send (`npm run bench`
 * prints both ceilings); and it cannot open connections ahead of time, which the lift does so the
 * first journalist's message is not held up by a TCP handshake and a relay's greeting.
 *
 * When the relay offers PIPELINING, the pool speaks the transaction itself (smtp-transaction.ts):
 * MAIL, RCPT and DATA share one round trip, and the message goes dot-stuffed in one write; against
 * Postfix's smtp-sink nodemailer's four round trips and its dot-stuffing stream were the top of the
 * worker's profile. Other relays get nodemailer's transaction.
 *
 * Like nodemailer's pool, a connection whose transaction failed is closed rather than reused, so a
 * confused relay session never carries over to the next message.
 */
export class SmtpPool {
  private readonly idle: Lease[] = [];
  private readonly live = new Set<Lease>();
  private opening = 0;
  private readonly waiting: Array<{ resolve: (lease: Lease) => void; reject: (error: Error) => void }> = [];
  private closed = false;

  constructor(private readonly options: PoolOptions) {}

  /**
   * Hands one message to the relay; resolves with the relay's reply ("250 …"), rejects with its
   * refusal. `mayHandOver` is asked when a connection is ready: a send that waited for one (behind
   * the others of the pool) still stops if its sender lost the right to send it meanwhile.
   */
  async send(envelope: Envelope, message: Buffer | Readable, mayHandOver?: HandOverCheck): Promise<string> {
    const lease = await this.acquire();
    if (mayHandOver && !mayHandOver()) {
      this.putBack(lease);
      throw new NotHandedOver();
    }
    // nodemailer adds SMTPUTF8 to MAIL FROM when the relay offers it, and sends the address anyway when not.
    if (
      needsSmtpUtf8(envelope) &&
      !(lease.connection as unknown as { _supportedExtensions: string[] })._supportedExtensions.includes('SMTPUTF8')
    ) {
      this.putBack(lease);
      throw new SmtpUtf8Unavailable();
    }
    try {
      const response = await new Promise<string>((resolve, reject) => {
        lease.fail = reject;
        if (Buffer.isBuffer(message) && offersPipelining(lease.connection) && pipelinable(envelope)) {
          // The common case, and the fast one: two round trips and two writes a message.
          pipelinedSend(lease.connection, envelope, message).then(resolve, reject);
          return;
        }
        // A fresh object: SMTPConnection keeps its transaction state (recipient queue, accepted,
        // rejected) on the envelope it is given, and one message may be sent on several connections.
        lease.connection.send({ ...envelope }, message, (error, info) =>
          error ? reject(error) : resolve(info.response),
        );
      });
      lease.fail = undefined;
      this.putBack(lease);
      return response;
    } catch (error) {
      lease.fail = undefined;
      this.discard(lease);
      throw error;
    }
  }

  /** Opens connections up to the pool's size now, so the next sends find them ready. Never throws. */
  async warm(): Promise<void> {
    const missing = this.options.size - this.live.size - this.opening;
    await Promise.all(Array.from({ length: Math.max(0, missing) }, () => this.grow()));
  }

  /** Closes every connection; sends in flight end with an error. */
  close(): void {
    this.closed = true;
    for (const lease of [...this.live]) this.discard(lease);
    for (const waiter of this.waiting.splice(0)) waiter.reject(connectionError('the SMTP pool was closed'));
  }

  private acquire(): Promise<Lease> {
    if (this.closed) return Promise.reject(connectionError('the SMTP pool was closed'));
    return new Promise((resolve, reject) => {
      this.waiting.push({ resolve, reject });
      this.dispatch();
    });
  }

  /** Gives idle connections to waiting sends, and opens new ones while the pool has room. */
  private dispatch(): void {
    while (this.waiting.length > 0) {
      const lease = this.idle.pop();
      if (lease) {
        this.waiting.shift()!.resolve(lease);
      } else if (this.live.size + this.opening < this.options.size && this.opening < this.waiting.length) {
        void this.grow();
      } else {
        return;
      }
    }
  }

  /**
   * Opens one more connection for the pool. When the relay refuses or times out, the longest-waiting
   * send gets the error (and its retry), and the next waiting send gets a fresh attempt.
   */
  private async grow(): Promise<void> {
    try {
      this.putBack(await this.open());
    } catch (error) {
      this.waiting.shift()?.reject(error as Error);
      this.dispatch();
    }
  }

  private putBack(lease: Lease): void {
    if (this.closed || !this.live.has(lease)) {
      this.discard(lease);
      return;
    }
    this.idle.push(lease);
    this.dispatch();
  }

  private discard(lease: Lease): void {
    const index = this.idle.indexOf(lease);
    if (index >= 0) this.idle.splice(index, 1);
    if (this.live.delete(lease)) {
      lease.connection.close();
      if (!this.closed) this.dispatch();
    }
  }

  /** One connection, greeted, upgraded to TLS when offered, and signed in: ready for MAIL FROM. */
  private async open(): Promise<Lease> {
    this.opening += 1;
    try {
      const socket = await this.connectSocket();
      const connection = new SMTPConnection({
        host: this.options.host,
        port: this.options.port,
        secure: this.options.secure,
        connection: socket,
        connectionTimeout: this.options.timeoutMs,
        greetingTimeout: this.options.timeoutMs,
        socketTimeout: this.options.timeoutMs,
      });
      const lease: Lease = { connection };
      await new Promise<void>((resolve, reject) => {
        const closed = () => done(connectionError('the relay closed the connection before it was ready'));
        const done = (error?: Error) => {
          connection.off('error', done);
          connection.off('end', closed);
          if (error) {
            connection.close();
            // A permanent refusal before MAIL FROM (a 554 greeting, bad credentials) judges the
            // connection, not the message: without its code it is classified as temporary and
            // retried with backoff, rather than failing every delivery for good. A 421 greeting
            // ("too many connections") keeps its code, so the worker slows down.
            const { responseCode } = error as SmtpError;
            if (responseCode !== undefined && responseCode >= 500) delete (error as SmtpError).responseCode;
            reject(error);
          } else {
            resolve();
          }
        };
        connection.once('error', done);
        connection.once('end', closed);
        connection.connect(() => {
          const { auth } = this.options;
          if (!auth) return done();
          connection.login(auth, (error) => done(error ?? undefined));
        });
      });
      // From now on an error or a close ends the connection, and fails the send it was carrying.
      connection.on('error', (error) => {
        lease.fail?.(error);
        this.discard(lease);
      });
      connection.once('end', () =>
        // After the reply that may have come with the close, which tells more than "closed".
        setImmediate(() => {
          lease.fail?.(connectionError('the relay closed the connection'));
          this.discard(lease);
        }),
      );
      if (this.closed) {
        connection.close();
        throw connectionError('the SMTP pool was closed');
      }
      this.live.add(lease);
      return lease;
    } finally {
      this.opening -= 1;
    }
  }

  /**
   * A TCP connection with Nagle's algorithm off. SMTP is a dialogue of small writes (the end of
   * DATA, then the next MAIL FROM); with Nagle on, each waits for the relay's delayed ACK, about
   * 40 ms a message per connection.
   */
  private connectSocket(): Promise<net.Socket> {
    const { host, port, timeoutMs } = this.options;
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host, port, noDelay: true });
      const timer = setTimeout(
        () => socket.destroy(connectionError(`connection to ${host}:${port} timed out`, 'ETIMEDOUT')),
        timeoutMs,
      );
      socket.once('error', (error: SmtpError) => {
        clearTimeout(timer);
        error.code ??= 'ECONNECTION';
        reject(error);
      });
      socket.once('connect', () => {
        clearTimeout(timer);
        socket.removeAllListeners('error');
        resolve(socket);
      });
    });
  }
}

function connectionError(message: string, code = 'ECONNECTION'): SmtpError {
  return Object.assign(new Error(message), { code });
}
