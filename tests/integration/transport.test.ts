import { afterAll, beforeAll, expect, it } from 'vitest';
import { loadConfig } from '../../src/config';
import { createMailer, relayOptions } from '../../src/mail/transport';
import { startSmtp, type TestSmtp } from '../support/smtp';

let smtp: TestSmtp;
beforeAll(async () => {
  smtp = await startSmtp();
});
afterAll(async () => {
  await smtp?.close();
});

it('reads the relay address and credentials from SMTP_URL', () => {
  expect(relayOptions('smtp://relay.example.org:2525')).toEqual({ host: 'relay.example.org', port: 2525, secure: false });
  expect(relayOptions('smtps://us%40r:p%3Ass@relay.example.org')).toEqual({
    host: 'relay.example.org', port: 465, secure: true, auth: { user: 'us@r', pass: 'p:ss' },
  });
  expect(relayOptions('smtp://relay.example.org').port).toBe(25);
});

it('sends through a pool of at most SMTP_POOL_SIZE connections, not one connection a message', async () => {
  const mailer = createMailer(loadConfig({ SMTP_URL: smtp.url, SMTP_POOL_SIZE: '2' }));
  try {
    const sends = Array.from({ length: 12 }, (_, i) =>
      mailer.send({ from: 'newsroom@presslift.localhost', to: `reader${i}@example.org`, subject: `Message ${i}`, text: 'Hello' }),
    );
    const outcomes = await Promise.all(sends);
    expect(outcomes.every((o) => o.response.startsWith('250'))).toBe(true);
    expect(smtp.messages.map((m) => m.to[0]).sort()).toEqual(Array.from({ length: 12 }, (_, i) => `reader${i}@example.org`).sort());
    expect(smtp.connections).toBeGreaterThanOrEqual(1);
    expect(smtp.connections).toBeLessThanOrEqual(2);
  } finally {
    mailer.close();
  }
});
