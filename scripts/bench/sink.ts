/**
 * The benchmark's SMTP sink, run as its own process so it does not share a core's event loop with
 * the measurement. It only counts: per message the Message-ID, the recipient, when the transaction
 * began (MAIL FROM) and when the message was accepted. Nothing is parsed beyond the Message-ID.
 * Talks to its parent over IPC: { type: 'listening', port } once, then answers 'report'/'reset'.
 */
import { SMTPServer, type SMTPServerSession } from 'smtp-server';

interface Arrival {
  messageId: string;
  to: string;
  startedAt: number;
  acceptedAt: number;
  bytes: number;
}

let arrivals: Arrival[] = [];
const starts = new WeakMap<SMTPServerSession, number>();
const MESSAGE_ID = /^message-id:[ \t]*(<[^>\r\n]*>)/im;

const server = new SMTPServer({
  authOptional: true,
  disabledCommands: ['STARTTLS', 'AUTH'],
  logger: false,
  size: 50 * 1024 * 1024,
  onMailFrom(_address, session, callback) {
    starts.set(session, Date.now());
    callback();
  },
  onData(stream, session, callback) {
    let head = '';
    let bytes = 0;
    stream.on('data', (chunk: Buffer) => {
      bytes += chunk.length;
      // The headers arrive in the first chunk or two; the body is only counted.
      if (head.length < 16_384 && !head.includes('\r\n\r\n')) head += chunk.toString('latin1');
    });
    stream.on('end', () => {
      arrivals.push({
        messageId: MESSAGE_ID.exec(head)?.[1] ?? '',
        to: session.envelope.rcptTo[0]?.address.toLowerCase() ?? '',
        startedAt: starts.get(session) ?? Date.now(),
        acceptedAt: Date.now(),
        bytes,
      });
      callback();
    });
  },
});

process.on('message', (message: { type: string }) => {
  if (message.type === 'report') {
    process.send!({ type: 'report', arrivals });
  } else if (message.type === 'reset') {
    arrivals = [];
    process.send!({ type: 'reset' });
  }
});
process.on('disconnect', () => process.exit(0));

server.listen(0, '127.0.0.1', () => {
  const address = server.server.address();
  process.send!({ type: 'listening', port: typeof address === 'object' && address ? address.port : 0 });
});
