import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newWebhookSecret, signWebhook, verifyWebhook } from '../../src/integrations/signature.js';

describe('webhook signatures', () => {
  const secret = newWebhookSecret();
  const body = '{"id":1,"type":"release.lifted"}';

  it('are HMAC-SHA256 over "t.body", as Stripe signs', () => {
    const header = signWebhook(secret, body, 1_700_000_000);
    expect(header).toBe(`t=1700000000,v1=${createHmac('sha256', secret).update(`1700000000.${body}`).digest('hex')}`);
  });

  it('verify only the same body, with the same secret, and not once too old', () => {
    const header = signWebhook(secret, body, 1_700_000_000);
    expect(verifyWebhook(secret, header, body, 1_700_000_100)).toBe(true);
    expect(verifyWebhook(secret, header, body.replace('1', '2'), 1_700_000_100)).toBe(false);
    expect(verifyWebhook(newWebhookSecret(), header, body, 1_700_000_100)).toBe(false);
    expect(verifyWebhook(secret, header, body, 1_700_000_301)).toBe(false);
    expect(verifyWebhook(secret, 'v1=abc', body, 1_700_000_000)).toBe(false);
  });
});
