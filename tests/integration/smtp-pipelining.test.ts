import net from 'node:net';
import { SMTPServer, type SMTPServerSession } from 'smtp-server';
import { afterEach, expect, it } from 'vitest';
import { classifySmtpError } from '../../src/mail/classify.js';
import { SmtpPool } from '../../src/mail/smtp-pool.js';

/**
 * The pool's pipelined transaction (src/mail/smtp-transaction.ts) against real servers: smtp-server
 * (which announces PIPELINING) for what arrives and how refusals end, and a bare socket server for
 * proof that MAIL, RCPT and DATA really travel together.
 */
const cleanups: Array<() => unknown> = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

interface Arrived {
  from: string;
  to: string[];
  raw: Buffer;
}

async function server(options: { refuseRecipient?: (address: string) => boolean; refuseSender?: boolean } = {}) {
  const arrived: Arrived[] = [];
  const instance = new SMTPServer({
    authOptional: true,
    disabledCommands: ['STARTTLS', 'AUTH'],
    logger: false,
    onMailFrom(address, _session, callback) {
      if (options.refuseSender) return callback(Object.assign(new Error('Sender refused'), { responseCode: 553 }));
      callback();
    },
    onRcptTo(address, _session, callback) {
      if (options.refuseRecipient?.(address.address))
        return callback(Object.assign(new Error('No such mailbox'), { responseCode: 550 }));
      callback();
    },
    onData(stream, session: SMTPServerSession, callback) {
      const chunks: Buffer[] = [];
      stream.on('data', (chunk: Buffer) => chunks.push(chunk));
      stream.on('end', () => {
        arrived.push({
          from: session.envelope.mailFrom ? session.envelope.mailFrom.address : '',
          to: session.envelope.rcptTo.map((r) => r.address),
          raw: Buffer.concat(chunks),
        });
        callback();
      });
    },
  });
  await new Promise<void>((resolve) => instance.listen(0, '127.0.0.1', () => resolve()));
  cleanups.push(() => new Promise<void>((resolve) => instance.close(() => resolve())));
  const { port } = instance.server.address() as net.AddressInfo;
  return { port, arrived };
}

function pool(port: number, size = 1): SmtpPool {
  const p = new SmtpPool({ host: '127.0.0.1', port, secure: false, size, timeoutMs: 10_000 });
  cleanups.push(() => p.close());
  return p;
}

const raw = (to: string) =>
  Buffer.from(
    `From: newsroom@presslift.localhost\r\nTo: ${to}\r\nSubject: x\r\n\r\n.leading dot\r\n..two dots\r\nbare\nline\r\n.\r\nend`,
  );

it('delivers each message byte for byte (dots and bare line ends as nodemailer would send them) on one reused connection', async () => {
  const { port, arrived } = await server();
  const p = pool(port);
  const replies = [];
  for (const to of ['a@example.org', 'b@example.org', 'c@example.org'])
    replies.push(await p.send({ from: 'bounce@presslift.localhost', to: [to] }, raw(to)));
  expect(replies.every((r) => r.startsWith('250'))).toBe(true);
  expect(arrived.map((a) => a.to)).toEqual([['a@example.org'], ['b@example.org'], ['c@example.org']]);
  expect(arrived.every((a) => a.from === 'bounce@presslift.localhost')).toBe(true);
  // smtp-server un-stuffs the dots; the bare LF arrives as CRLF, as nodemailer's DataStream writes it.
  expect(arrived[1]!.raw.toString()).toBe(
    raw('b@example.org').toString().replace('bare\nline', 'bare\r\nline') + '\r\n',
  );
});

it('ends a transaction whose only recipient is refused mid-pipeline with that refusal (permanent, suppressing), writes no message, and the next send goes through', async () => {
  const { port, arrived } = await server({ refuseRecipient: (address) => address.startsWith('gone@') });
  const p = pool(port);
  const error = await p
    .send({ from: 'bounce@presslift.localhost', to: ['gone@example.org'] }, raw('gone@example.org'))
    .catch((e: unknown) => e);
  expect(error).toBeInstanceOf(Error);
  expect(error).toMatchObject({ responseCode: 550, command: 'RCPT TO', code: 'EENVELOPE' });
  expect(classifySmtpError(error)).toMatchObject({ permanent: true, suppress: true });
  expect(
    await p.send({ from: 'bounce@presslift.localhost', to: ['here@example.org'] }, raw('here@example.org')),
  ).toMatch(/^250/);
  expect(arrived.map((a) => a.to)).toEqual([['here@example.org']]);
});

it('with several recipients, one refused, sends to the others', async () => {
  const { port, arrived } = await server({ refuseRecipient: (address) => address.startsWith('gone@') });
  const p = pool(port);
  expect(
    await p.send(
      { from: 'bounce@presslift.localhost', to: ['one@example.org', 'gone@example.org', 'two@example.org'] },
      raw('x@example.org'),
    ),
  ).toMatch(/^250/);
  expect(arrived.map((a) => a.to)).toEqual([['one@example.org', 'two@example.org']]);
});

it('ends a transaction whose sender is refused with that refusal', async () => {
  const { port, arrived } = await server({ refuseSender: true });
  const p = pool(port);
  const error = await p
    .send({ from: 'bounce@presslift.localhost', to: ['a@example.org'] }, raw('a@example.org'))
    .catch((e: unknown) => e);
  expect(error).toMatchObject({ responseCode: 553, command: 'MAIL FROM' });
  expect(arrived).toEqual([]);
});

it('sends MAIL FROM, RCPT TO and DATA before waiting for any reply (RFC 2920)', async () => {
  // A relay that answers MAIL FROM only once DATA has arrived too: a client waiting for each
  // reply before its next command never gets there, and the send times out.
  let received = '';
  const bare = net.createServer((socket) => {
    let buffer = '';
    let inData = false;
    socket.write('220 bare ESMTP\r\n');
    socket.on('data', (chunk: Buffer) => {
      buffer += chunk.toString('latin1');
      received += chunk.toString('latin1');
      if (inData) {
        if (buffer.endsWith('\r\n.\r\n')) {
          inData = false;
          buffer = '';
          socket.write('250 2.0.0 queued\r\n');
        }
        return;
      }
      if (buffer.startsWith('EHLO') && buffer.endsWith('\r\n')) {
        buffer = '';
        socket.write('250-bare\r\n250 PIPELINING\r\n');
      } else if (buffer.startsWith('MAIL FROM') && buffer.endsWith('DATA\r\n')) {
        buffer = '';
        inData = true;
        socket.write('250 2.1.0 ok\r\n250 2.1.5 ok\r\n354 go ahead\r\n');
      } else if (buffer.startsWith('QUIT')) {
        socket.end('221 bye\r\n');
      }
    });
  });
  await new Promise<void>((resolve) => bare.listen(0, '127.0.0.1', () => resolve()));
  cleanups.push(() => new Promise<void>((resolve) => bare.close(() => resolve())));
  const p = new SmtpPool({
    host: '127.0.0.1',
    port: (bare.address() as net.AddressInfo).port,
    secure: false,
    size: 1,
    timeoutMs: 5_000,
  });
  cleanups.push(() => p.close());
  expect(await p.send({ from: 'bounce@presslift.localhost', to: ['a@example.org'] }, raw('a@example.org'))).toBe(
    '250 2.0.0 queued',
  );
  expect(received).toContain('MAIL FROM:<bounce@presslift.localhost>\r\nRCPT TO:<a@example.org>\r\nDATA\r\n');
  expect(received).toContain('\r\n..leading dot\r\n...two dots\r\nbare\r\nline\r\n..\r\nend\r\n.\r\n');
});
