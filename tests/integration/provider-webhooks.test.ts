import { createHmac, createSign, randomBytes } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildApp } from '../../src/app.js';
import { verpAddress } from '../../src/mail/verp.js';
import { listWith, releaseReaches, scheduleIn } from '../support/fixtures.js';
import { createHarness, type Harness } from '../support/harness.js';
import { startSmtp, type TestSmtp } from '../support/smtp.js';

/**
 * Providers' webhooks, each signed here by the provider's documented algorithm: SNS's RSA
 * signature (versions 1 and 2) with a key and certificate made for this test, Postmark's basic-auth
 * credentials, Mailgun's HMAC-SHA256 of timestamp and token.
 */
const TOPIC = 'arn:aws:sns:eu-west-1:123456789012:presslift-ses';
const CERT_URL = 'https://sns.eu-west-1.amazonaws.com/SimpleNotificationService-0123456789abcdef.pem';
const BOUNCE_DOMAIN = 'bounces.news.example.org';
// Drawn for each run: a key written in the repository would be a public one.
const MAILGUN_KEY = randomBytes(24).toString('hex');
const POSTMARK = { user: 'postmark', password: 'a long shared webhook secret' };

let h: Harness;
let smtp: TestSmtp;
let app: FastifyInstance;
let privateKey: string;
let certificate: string;
const fetched: string[] = [];
const delivery: Record<string, { id: number; subscriberId: number; messageId: string }> = {};
let releaseId: number;
let lists: number[];

beforeAll(async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'presslift-sns-'));
  execFileSync(
    'openssl',
    [
      'req',
      '-x509',
      '-newkey',
      'rsa:2048',
      '-nodes',
      '-keyout',
      `${dir}/key.pem`,
      '-out',
      `${dir}/cert.pem`,
      '-days',
      '2',
      '-subj',
      '/CN=sns.amazonaws.com',
    ],
    { stdio: 'ignore' },
  );
  privateKey = readFileSync(`${dir}/key.pem`, 'utf8');
  certificate = readFileSync(`${dir}/cert.pem`, 'utf8');
  rmSync(dir, { recursive: true });

  smtp = await startSmtp();
  h = await createHarness({
    SMTP_URL: smtp.url,
    BOUNCE_DOMAIN,
    SES_TOPIC_ARNS: TOPIC,
    MAILGUN_WEBHOOK_SIGNING_KEY: MAILGUN_KEY,
    POSTMARK_WEBHOOK_USER: POSTMARK.user,
    POSTMARK_WEBHOOK_PASSWORD: POSTMARK.password,
  });
  app = await buildApp(h.ctx, {
    providerWebhooks: {
      fetchText: async (url) => {
        fetched.push(url);
        return url === CERT_URL ? certificate : 'confirmed';
      },
    },
  });
  await h.startWorkers();
  const names = ['seshard', 'sescomplaint', 'pmhard', 'pmcomplaint', 'mghard', 'mgsoft', 'mgcomplaint', 'calm'];
  lists = [
    await listWith(
      h,
      'Science',
      names.map((n) => ({ email: `${n}@example.org` })),
    ),
    await listWith(h, 'Health', [{ email: 'sescomplaint@example.org' }]),
  ];
  ({ id: releaseId } = await scheduleIn(h, [lists[0]!], 1000));
  await releaseReaches(h, releaseId, 'sent');
  const { rows } = await sql<{ id: number; subscriber_id: number; email: string; message_id: string }>`
    SELECT d.id, d.subscriber_id, s.email, d.message_id FROM deliveries d JOIN subscribers s ON s.id = d.subscriber_id WHERE d.release_id = ${releaseId}`.execute(
    h.ctx.db,
  );
  for (const r of rows)
    delivery[r.email.split('@')[0]!] = { id: r.id, subscriberId: r.subscriber_id, messageId: r.message_id };
}, 60_000);
afterAll(async () => {
  await app?.close();
  await h?.close();
  await smtp?.close();
});

const verp = (who: string) => verpAddress(h.ctx.keys, delivery[who]!.id, BOUNCE_DOMAIN);

async function post(url: string, body: unknown, headers: Record<string, string> = {}) {
  const response = await app.inject({
    method: 'POST',
    url,
    payload: JSON.stringify(body),
    headers: { 'content-type': 'application/json', ...headers },
  });
  return { status: response.statusCode, json: response.json() };
}

async function rowsOf() {
  const db = h.ctx.db;
  const [suppressions, events, members, states] = await Promise.all([
    db.selectFrom('suppressions').select(['email_key', 'reason', 'source']).orderBy('email_key').execute(),
    db.selectFrom('mail_events').select(['kind', 'email_key', 'delivery_id', 'source']).orderBy('id').execute(),
    db
      .selectFrom('list_members')
      .select(['list_id', 'subscriber_id', 'status'])
      .orderBy('list_id')
      .orderBy('subscriber_id')
      .execute(),
    db.selectFrom('deliveries').select(['id', 'state']).orderBy('id').execute(),
  ]);
  return { suppressions, events, members, states };
}

/** An SNS message signed as SNS signs it (the fields in order, each name and value on a line). */
function snsMessage(
  type: 'Notification' | 'SubscriptionConfirmation',
  message: string,
  version: '1' | '2',
  extra: Record<string, string> = {},
) {
  const m: Record<string, string> = {
    Type: type,
    MessageId: randomBytes(8).toString('hex'),
    TopicArn: TOPIC,
    Message: message,
    Timestamp: new Date().toISOString(),
    SignatureVersion: version,
    SigningCertURL: CERT_URL,
    ...extra,
  };
  if (type === 'SubscriptionConfirmation') {
    m.Token = 'token-123';
    m.SubscribeURL = `https://sns.eu-west-1.amazonaws.com/?Action=ConfirmSubscription&TopicArn=${TOPIC}&Token=token-123`;
  }
  const fields =
    type === 'Notification'
      ? ['Message', 'MessageId', 'Subject', 'Timestamp', 'TopicArn', 'Type']
      : ['Message', 'MessageId', 'SubscribeURL', 'Timestamp', 'Token', 'TopicArn', 'Type'];
  const signer = createSign(version === '1' ? 'RSA-SHA1' : 'RSA-SHA256');
  signer.update(
    fields
      .filter((f) => m[f] !== undefined)
      .map((f) => `${f}\n${m[f]}\n`)
      .join(''),
  );
  m.Signature = signer.sign(privateKey, 'base64');
  return m;
}

const sesBounce = (who: string, source: string) =>
  JSON.stringify({
    notificationType: 'Bounce',
    bounce: {
      bounceType: 'Permanent',
      bounceSubType: 'General',
      feedbackId: `fb-${who}`,
      timestamp: new Date().toISOString(),
      bouncedRecipients: [
        {
          emailAddress: `${who}@example.org`,
          action: 'failed',
          status: '5.1.1',
          diagnosticCode: 'smtp; 550 5.1.1 user unknown',
        },
      ],
    },
    mail: {
      source,
      messageId: 'ses-0001',
      destination: [`${who}@example.org`],
      commonHeaders: { messageId: delivery[who]!.messageId },
    },
  });

describe('POST /webhooks/ses', () => {
  it('confirms a subscription from an allowed topic by visiting its SNS SubscribeURL', async () => {
    const confirmation = snsMessage('SubscriptionConfirmation', 'You have chosen to subscribe to the topic', '1');
    expect(await post('/webhooks/ses', confirmation, { 'content-type': 'text/plain; charset=UTF-8' })).toEqual({
      status: 200,
      json: { confirmed: true },
    });
    expect(fetched).toEqual([CERT_URL, confirmation.SubscribeURL]);
    // The certificate is fetched once and kept.
    expect((await post('/webhooks/ses', snsMessage('SubscriptionConfirmation', 'again', '2'))).status).toBe(200);
    expect(fetched.filter((u) => u === CERT_URL)).toHaveLength(1);

    fetched.length = 0;
    const elsewhere = snsMessage('SubscriptionConfirmation', 'x', '2', {
      TopicArn: 'arn:aws:sns:eu-west-1:999999999999:someone-else',
    });
    expect((await post('/webhooks/ses', elsewhere)).status).toBe(403);
    expect(fetched).toEqual([]);
  });

  it('bounces the delivery its signed envelope sender names, once', async () => {
    const notification = snsMessage('Notification', sesBounce('seshard', verp('seshard')), '2');
    expect(await post('/webhooks/ses', notification, { 'content-type': 'text/plain; charset=UTF-8' })).toEqual({
      status: 200,
      json: { events: 1, applied: 1 },
    });
    const after = await rowsOf();
    expect(after.states.find((s) => s.id === delivery.seshard!.id)!.state).toBe('bounced');
    expect(after.suppressions).toContainEqual({
      email_key: 'seshard@example.org',
      source: 'ses',
      reason: 'bounced: 5.1.1 smtp; 550 5.1.1 user unknown',
    });
    expect(await post('/webhooks/ses', notification)).toEqual({ status: 200, json: { events: 1, applied: 0 } });
    expect(await rowsOf()).toEqual(after);
  });

  it('takes a complaint found by our Message-ID: unsubscribed everywhere and suppressed', async () => {
    const complaint = JSON.stringify({
      notificationType: 'Complaint',
      complaint: {
        feedbackId: 'fb-c1',
        complaintFeedbackType: 'abuse',
        complainedRecipients: [{ emailAddress: 'sescomplaint@example.org' }],
      },
      mail: {
        source: 'newsroom@presslift.localhost',
        messageId: 'ses-0002',
        commonHeaders: { messageId: delivery.sescomplaint!.messageId },
      },
    });
    expect((await post('/webhooks/ses', snsMessage('Notification', complaint, '1'))).status).toBe(200);
    const after = await rowsOf();
    expect(
      after.members.filter((m) => m.subscriber_id === delivery.sescomplaint!.subscriberId).map((m) => m.status),
    ).toEqual(['unsubscribed', 'unsubscribed']);
    expect(after.events).toContainEqual({
      kind: 'complaint',
      email_key: 'sescomplaint@example.org',
      delivery_id: delivery.sescomplaint!.id,
      source: 'ses',
    });
  });

  it('refuses a bad signature or a certificate from anywhere but SNS with 401, changing nothing', async () => {
    const before = await rowsOf();
    const tampered = { ...snsMessage('Notification', sesBounce('calm', verp('calm')), '2') };
    tampered.Message = tampered.Message!.replace('5.1.1', '5.1.2');
    const wrongVersion = { ...snsMessage('Notification', sesBounce('calm', verp('calm')), '2'), SignatureVersion: '1' };
    fetched.length = 0;
    const foreignCert = snsMessage('Notification', sesBounce('calm', verp('calm')), '2', {
      SigningCertURL: 'https://sns.eu-west-1.amazonaws.com.evil.example/cert.pem',
    });
    const plainHttp = snsMessage('Notification', sesBounce('calm', verp('calm')), '2', {
      SigningCertURL: CERT_URL.replace('https:', 'http:'),
    });
    for (const body of [tampered, wrongVersion, foreignCert, plainHttp])
      expect((await post('/webhooks/ses', body)).status).toBe(401);
    expect(fetched).toEqual([]);
    expect((await post('/webhooks/ses', { hello: 'world' })).status).toBe(400);
    expect(await rowsOf()).toEqual(before);
  });
});

describe('POST /webhooks/postmark', () => {
  const basic = (user: string, password: string) => ({
    authorization: `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}`,
  });
  const hardBounce = {
    RecordType: 'Bounce',
    ID: 4323372036854775,
    Type: 'HardBounce',
    TypeCode: 1,
    Email: 'pmhard@example.org',
    Details: 'smtp;550 5.1.1 The email account that you tried to reach does not exist.',
    MessageID: '883953f4-6105-42a2-a16a-77a8eac79483',
  };

  it('refuses wrong or missing credentials with 401, changing nothing', async () => {
    const before = await rowsOf();
    expect((await post('/webhooks/postmark', hardBounce)).status).toBe(401);
    expect((await post('/webhooks/postmark', hardBounce, basic(POSTMARK.user, 'guess'))).status).toBe(401);
    expect(await rowsOf()).toEqual(before);
  });

  it('suppresses a hard bounce and takes a spam complaint, each once', async () => {
    expect(await post('/webhooks/postmark', hardBounce, basic(POSTMARK.user, POSTMARK.password))).toEqual({
      status: 200,
      json: { events: 1, applied: 1 },
    });
    expect(await post('/webhooks/postmark', hardBounce, basic(POSTMARK.user, POSTMARK.password))).toEqual({
      status: 200,
      json: { events: 1, applied: 0 },
    });
    const complaint = {
      RecordType: 'SpamComplaint',
      ID: 42,
      Type: 'SpamComplaint',
      TypeCode: 512,
      Email: 'pmcomplaint@example.org',
    };
    expect((await post('/webhooks/postmark', complaint, basic(POSTMARK.user, POSTMARK.password))).status).toBe(200);
    const rows = await rowsOf();
    expect(rows.suppressions).toContainEqual({
      email_key: 'pmhard@example.org',
      source: 'postmark',
      reason: expect.stringMatching(/^bounced: 5\.1\.1 smtp;550/),
    });
    expect(rows.suppressions).toContainEqual({
      email_key: 'pmcomplaint@example.org',
      source: 'postmark',
      reason: 'complaint (abuse)',
    });
    expect(rows.members.find((m) => m.subscriber_id === delivery.pmcomplaint!.subscriberId)!.status).toBe(
      'unsubscribed',
    );
  });
});

describe('POST /webhooks/mailgun', () => {
  const signed = (eventData: Record<string, unknown>, at = Math.floor(Date.now() / 1000), key = MAILGUN_KEY) => {
    const timestamp = String(at);
    const token = randomBytes(25).toString('hex');
    return {
      signature: {
        timestamp,
        token,
        signature: createHmac('sha256', key)
          .update(timestamp + token)
          .digest('hex'),
      },
      'event-data': eventData,
    };
  };
  const failed = (who: string, severity: 'permanent' | 'temporary') => ({
    event: 'failed',
    severity,
    id: `mg-${who}-${severity}`,
    recipient: `${who}@example.org`,
    envelope: { sender: verp(who) },
    message: { headers: { 'message-id': delivery[who]!.messageId.replace(/[<>]/g, '') } },
    'delivery-status': {
      code: severity === 'permanent' ? 550 : 452,
      message: severity === 'permanent' ? '5.1.1 no such user' : '4.2.2 mailbox full',
      'enhanced-code': severity === 'permanent' ? '5.1.1' : '4.2.2',
    },
  });

  it('refuses a bad signature, a stale timestamp and a replayed token with 401, changing nothing', async () => {
    const before = await rowsOf();
    expect(
      (
        await post(
          '/webhooks/mailgun',
          signed(failed('calm', 'permanent'), undefined, 'key-of-someone-else-0000000000'),
        )
      ).status,
    ).toBe(401);
    expect(
      (await post('/webhooks/mailgun', signed(failed('calm', 'permanent'), Math.floor(Date.now() / 1000) - 3600)))
        .status,
    ).toBe(401);
    const tampered = signed(failed('calm', 'temporary'));
    tampered.signature.timestamp = String(Number(tampered.signature.timestamp) - 1);
    expect((await post('/webhooks/mailgun', tampered)).status).toBe(401);
    expect(await rowsOf()).toEqual(before);

    const once = signed(failed('mghard', 'permanent'));
    expect((await post('/webhooks/mailgun', once)).status).toBe(200);
    const after = await rowsOf();
    expect(after.states.find((s) => s.id === delivery.mghard!.id)!.state).toBe('bounced');
    expect((await post('/webhooks/mailgun', once)).status).toBe(401);
    expect(await rowsOf()).toEqual(after);
  });

  it('counts a temporary failure as a soft bounce and takes a complaint', async () => {
    expect((await post('/webhooks/mailgun', signed(failed('mgsoft', 'temporary')))).json).toEqual({
      events: 1,
      applied: 1,
    });
    const complaint = {
      event: 'complained',
      id: 'mg-c-1',
      recipient: 'mgcomplaint@example.org',
      envelope: { sender: verp('mgcomplaint') },
    };
    expect((await post('/webhooks/mailgun', signed(complaint))).json).toEqual({ events: 1, applied: 1 });
    const rows = await rowsOf();
    expect(rows.events).toContainEqual({
      kind: 'soft_bounce',
      email_key: 'mgsoft@example.org',
      delivery_id: delivery.mgsoft!.id,
      source: 'mailgun',
    });
    expect(rows.states.find((s) => s.id === delivery.mgsoft!.id)!.state).toBe('sent');
    expect(rows.suppressions.find((s) => s.email_key === 'mgsoft@example.org')).toBeUndefined();
    expect(rows.suppressions).toContainEqual({
      email_key: 'mgcomplaint@example.org',
      source: 'mailgun',
      reason: 'complaint (abuse)',
    });
  });
});

describe('a provider left unconfigured', () => {
  it('answers 404', async () => {
    const bare = await buildApp({
      ...h.ctx,
      config: {
        ...h.ctx.config,
        SES_TOPIC_ARNS: [],
        MAILGUN_WEBHOOK_SIGNING_KEY: undefined,
        POSTMARK_WEBHOOK_USER: undefined,
        POSTMARK_WEBHOOK_PASSWORD: undefined,
      },
    });
    try {
      for (const provider of ['ses', 'postmark', 'mailgun']) {
        expect(
          (
            await bare.inject({
              method: 'POST',
              url: `/webhooks/${provider}`,
              payload: '{}',
              headers: { 'content-type': 'application/json' },
            })
          ).statusCode,
        ).toBe(404);
      }
    } finally {
      await bare.close();
    }
  });
});
