import net from 'node:net';
import { SMTPServer } from 'smtp-server';
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config.js';
import type { OutgoingMessage } from '../../src/mail/assemble.js';
import { classifySmtpError } from '../../src/mail/classify.js';
import { createMailer, relayOptions, type Mailer } from '../../src/mail/transport.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

let smtp: TestSmtp;
const opened: Mailer[] = [];
beforeAll(async () => {
  smtp = await startSmtp();
});
const closeMailers = () => {
  for (const mailer of opened.splice(0)) mailer.close();
};
afterEach(() => {
  closeMailers();
  smtp.messages.length = 0;
  smtp.connections = 0;
  smtp.respond = undefined;
});
afterAll(async () => {
  await smtp?.close();
});

function mailerFor(url: string, env: Record<string, string> = {}): Mailer {
  const mailer = createMailer(loadConfig({ SMTP_URL: url, SMTP_POOL_SIZE: '2', ...env }));
  opened.push(mailer);
  return mailer;
}

function message(to: string): OutgoingMessage {
  const messageId = `<${to}.${Date.now()}@presslift.localhost>`;
  const raw = Buffer.from(
    `From: newsroom@presslift.localhost\r\nTo: ${to}\r\nSubject: For ${to}\r\nMessage-ID: ${messageId}\r\n\r\n.A line starting with a dot\r\nHello\r\n`,
  );
  return { envelope: { from: 'newsroom@presslift.localhost', to: [to] }, raw, messageId };
}

/** An SMTP server on its own port, for the relay behaviours the shared test server does not have. */
async function startRelay(
  options: ConstructorParameters<typeof SMTPServer>[0],
): Promise<{ url: (auth?: string) => string; received: string[]; close(): Promise<void> }> {
  const received: string[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    logger: false,
    onData(stream, session, callback) {
      stream.resume();
      stream.on('end', () => {
        received.push(session.envelope.rcptTo[0]!.address);
        callback();
      });
    },
    ...options,
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as net.AddressInfo;
  return {
    url: (auth = '') => `smtp://${auth}127.0.0.1:${port}`,
    received,
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
}

it('reads the relay address and credentials from SMTP_URL', () => {
  expect(relayOptions('smtp://relay.example.org:2525')).toEqual({
    host: 'relay.example.org',
    port: 2525,
    secure: false,
  });
  expect(relayOptions('smtps://us%40r:p%3Ass@relay.example.org')).toEqual({
    host: 'relay.example.org',
    port: 465,
    secure: true,
    auth: { user: 'us@r', pass: 'p:ss' },
  });
  expect(relayOptions('smtp://relay.example.org').port).toBe(25);
});

it('sends through a pool of at most SMTP_POOL_SIZE connections, not one connection a message', async () => {
  const mailer = mailerFor(smtp.url);
  const outcomes = await Promise.all(
    Array.from({ length: 12 }, (_, i) => mailer.send(message(`reader${i}@example.org`))),
  );
  expect(outcomes.every((o) => o.response.startsWith('250'))).toBe(true);
  expect(smtp.messages.map((m) => m.to[0]).sort()).toEqual(
    Array.from({ length: 12 }, (_, i) => `reader${i}@example.org`).sort(),
  );
  // The message arrives whole: the line that starts with a dot was stuffed on the wire and unstuffed.
  expect(smtp.messages[0]!.raw).toContain('\r\n\r\n.A line starting with a dot\r\nHello');
  expect(smtp.connections).toBeGreaterThanOrEqual(1);
  expect(smtp.connections).toBeLessThanOrEqual(2);
});

it('opens its connections on warm(), before any message, and the sends then use them', async () => {
  const mailer = mailerFor(smtp.url);
  await mailer.warm();
  expect(smtp.connections).toBe(2);
  expect(smtp.messages).toHaveLength(0);
  await mailer.warm();
  expect(smtp.connections).toBe(2);
  await Promise.all(Array.from({ length: 6 }, (_, i) => mailer.send(message(`warm${i}@example.org`))));
  expect(smtp.messages).toHaveLength(6);
  expect(smtp.connections).toBe(2);
});

it('rejects a refused message with the reply, and the next message goes through', async () => {
  smtp.respond = (recipient) =>
    recipient === 'gone@example.org' ? { code: 550, message: 'No such mailbox' } : undefined;
  const mailer = mailerFor(smtp.url);
  const refusal = await mailer.send(message('gone@example.org')).catch((error: unknown) => error);
  expect(classifySmtpError(refusal)).toMatchObject({ permanent: true, suppress: true });
  expect(classifySmtpError(refusal).reply).toMatch(/^550 .*No such mailbox/);
  await mailer.send(message('here@example.org'));
  expect(smtp.messages.map((m) => m.to[0])).toEqual(['here@example.org']);
});

it('signs in when SMTP_URL carries credentials; wrong ones are a temporary failure, never a refused message', async () => {
  const relay = await startRelay({
    authMethods: ['PLAIN', 'LOGIN'],
    allowInsecureAuth: true,
    onAuth(auth, _session, callback) {
      if (auth.username === 'presslift' && auth.password === 's3cret') return callback(null, { user: 'presslift' });
      return callback(new Error('Invalid username or password'));
    },
  });
  try {
    await mailerFor(relay.url('presslift:s3cret@')).send(message('signed-in@example.org'));
    expect(relay.received).toEqual(['signed-in@example.org']);

    const refusal = await mailerFor(relay.url('presslift:wrong@'))
      .send(message('not-sent@example.org'))
      .catch((error: unknown) => error);
    expect(classifySmtpError(refusal)).toMatchObject({ permanent: false, suppress: false });
    expect(classifySmtpError(refusal).reply).toMatch(/535/);
    expect(relay.received).toEqual(['signed-in@example.org']);
  } finally {
    closeMailers();
    await relay.close();
  }
});

it('replaces a connection the relay closed while it was idle', async () => {
  let opened = 0;
  let closed = 0;
  const relay = await startRelay({
    authOptional: true,
    socketTimeout: 200,
    onConnect: (_session, callback) => {
      opened += 1;
      callback();
    },
    onClose: () => {
      closed += 1;
    },
  });
  try {
    const mailer = mailerFor(relay.url());
    await mailer.warm();
    // The relay has closed every connection the warm-up opened, for idling past its timeout.
    while (opened === 0 || closed < opened) await new Promise((resolve) => setTimeout(resolve, 20));
    const warmed = opened;
    await mailer.send(message('after-idle@example.org'));
    expect(relay.received).toEqual(['after-idle@example.org']);
    // Sent on a new connection, in place of the closed ones.
    expect(opened).toBeGreaterThan(warmed);
  } finally {
    closeMailers();
    await relay.close();
  }
});

it('fails fast and temporarily when the relay cannot be reached, and warm() does not throw', async () => {
  const closed = net.createServer();
  await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', () => resolve()));
  const { port } = closed.address() as net.AddressInfo;
  await new Promise((resolve) => closed.close(resolve));
  const mailer = mailerFor(`smtp://127.0.0.1:${port}`);
  await mailer.warm();
  const errors = await Promise.all(
    Array.from({ length: 5 }, () => mailer.send(message('nobody@example.org')).catch((error: unknown) => error)),
  );
  for (const error of errors) expect(classifySmtpError(error)).toMatchObject({ permanent: false });
  expect((errors[0] as { code?: string }).code).toBe('ECONNREFUSED');
});

it('fails a send that waited on connections the relay never greeted, instead of holding it for ever', async () => {
  const silent = net.createServer(() => {});
  await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', () => resolve()));
  const { port } = silent.address() as net.AddressInfo;
  try {
    const mailer = mailerFor(`smtp://127.0.0.1:${port}`, { SMTP_TIMEOUT_MS: '300' });
    const warming = mailer.warm(); // takes every slot of the pool, as before a lift
    const error = await mailer.send(message('waiting@example.org')).catch((e: unknown) => e);
    expect(classifySmtpError(error)).toMatchObject({ permanent: false });
    await warming;
  } finally {
    closeMailers();
    silent.close();
  }
});

it('treats a refused greeting as temporary: 421 slows the worker down, 554 is retried rather than failing the message', async () => {
  let code = 421;
  const relay = await startRelay({
    authOptional: true,
    onConnect(_session, callback) {
      callback(Object.assign(new Error('Not now'), { responseCode: code }));
    },
  });
  try {
    const tooMany = await mailerFor(relay.url())
      .send(message('busy@example.org'))
      .catch((error: unknown) => error);
    expect(classifySmtpError(tooMany)).toMatchObject({ permanent: false, slowDown: true });
    code = 554;
    const closed = await mailerFor(relay.url())
      .send(message('closed@example.org'))
      .catch((error: unknown) => error);
    expect(classifySmtpError(closed)).toMatchObject({ permanent: false, suppress: false, slowDown: false });
    expect(classifySmtpError(closed).reply).toMatch(/554/);
    expect(relay.received).toEqual([]);
  } finally {
    closeMailers();
    await relay.close();
  }
});
