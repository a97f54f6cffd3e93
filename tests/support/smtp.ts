import { simpleParser, type ParsedMail } from 'mailparser';
import { SMTPServer, type SMTPServerDataStream, type SMTPServerSession } from 'smtp-server';

export interface Received {
  /** When the client sent MAIL FROM: the start of the transaction. */
  startedAt: number;
  /** When the message was accepted. */
  receivedAt: number;
  /** The envelope sender (MAIL FROM). */
  from: string;
  to: string[];
  raw: string;
  mail: ParsedMail;
}

/** A reply for one recipient's message: undefined accepts it. */
export type Responder = (recipient: string, attempt: number) => { code: number; message: string } | undefined;

export interface TestSmtp {
  url: string;
  port: number;
  messages: Received[];
  /** Decide the reply for each message, by recipient and how many times it was tried. */
  respond: Responder | undefined;
  /** Hold each message this long before replying (a slow relay). */
  delayMs: number;
  /** Accept DATA and then never answer (a hung relay): always, or for the recipients and attempts it picks. */
  hang: boolean | ((recipient: string, attempt: number) => boolean);
  /** Hold a message after its DATA, before the reply, until the promise returned for it settles (a gate a test opens). */
  hold: ((recipient: string, attempt: number) => Promise<unknown> | undefined) | undefined;
  attempts: Map<string, number>;
  /** How many connections clients have opened. */
  connections: number;
  waitFor(count: number, timeoutMs?: number): Promise<Received[]>;
  close(): Promise<void>;
}

/** A real SMTP server in the test process that records every message with its arrival time. */
export async function startSmtp(): Promise<TestSmtp> {
  const starts = new WeakMap<SMTPServerSession, number>();
  const state: TestSmtp = {
    url: '',
    port: 0,
    messages: [],
    respond: undefined,
    delayMs: 0,
    hang: false,
    hold: undefined,
    attempts: new Map(),
    connections: 0,
    async waitFor(count, timeoutMs = 30_000) {
      const deadline = Date.now() + timeoutMs;
      while (state.messages.length < count) {
        if (Date.now() > deadline) throw new Error(`SMTP server got ${state.messages.length} of ${count} messages`);
        await new Promise((r) => setTimeout(r, 20));
      }
      return state.messages;
    },
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    size: 50 * 1024 * 1024,
    onConnect(_session, callback) {
      state.connections += 1;
      callback();
    },
    onMailFrom(_address, session, callback) {
      starts.set(session, Date.now());
      callback();
    },
    onData(stream: SMTPServerDataStream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', async () => {
        const to = session.envelope.rcptTo.map((r) => r.address.toLowerCase());
        const key = to.join(',');
        const attempt = (state.attempts.get(key) ?? 0) + 1;
        state.attempts.set(key, attempt);
        if (typeof state.hang === 'function' ? state.hang(to[0]!, attempt) : state.hang) return; // never answer
        await state.hold?.(to[0]!, attempt);
        if (state.delayMs > 0) await new Promise((r) => setTimeout(r, state.delayMs));
        const reply = state.respond?.(to[0]!, attempt);
        if (reply) {
          const error = new Error(reply.message) as Error & { responseCode: number };
          error.responseCode = reply.code;
          return callback(error);
        }
        const raw = Buffer.concat(chunks).toString('utf8');
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        state.messages.push({
          startedAt: starts.get(session) ?? Date.now(),
          receivedAt: Date.now(),
          from,
          to,
          raw,
          mail: await simpleParser(raw),
        });
        callback();
      });
    },
  });
  // A client's connection reset (a cut proxy, a killed worker) is its doing: smtp-server reports it
  // as an 'error' event, which would otherwise be an uncaught exception in the test process.
  server.on('error', () => {});
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const address = server.server.address();
  state.port = typeof address === 'object' && address ? address.port : 0;
  state.url = `smtp://127.0.0.1:${state.port}`;
  return state;
}

/** A gate on one recipient's first message: held at the server (after DATA) until the test opens it. */
export interface Gate {
  /** Resolves once the held message has arrived at the gate. */
  reached: Promise<void>;
  open(): void;
}

export function gateFor(smtp: TestSmtp, recipient: string): Gate {
  let arrived!: () => void;
  let open!: () => void;
  const reached = new Promise<void>((resolve) => (arrived = resolve));
  const opened = new Promise<void>((resolve) => (open = resolve));
  smtp.hold = (to, attempt) => {
    if (to !== recipient || attempt !== 1) return undefined;
    arrived();
    return opened;
  };
  return { reached, open };
}
