import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { dsnFeedback, isComplaint, unsubscribeTokenOf } from '../../src/mail/feedback.js';
import { fieldGroups, readReport } from '../../src/mail/reports.js';
import { verpAddress, verpDelivery } from '../../src/mail/verp.js';
import { Keyring } from '../../src/signing.js';

// Keys drawn for each run: a key written in the repository would be a public one.
const [KEY, NEXT_KEY] = [randomBytes(32).toString('base64url'), randomBytes(32).toString('base64url')];
const KEYS = new Keyring(KEY);
const fixture = (name: string, slots: Record<string, string>) =>
  readFileSync(new URL(`../fixtures/reports/${name}`, import.meta.url), 'utf8').replace(
    /\{\{(\w+)\}\}/g,
    (_, slot: string) => slots[slot] ?? '',
  );

describe('VERP bounce addresses', () => {
  it('name their delivery, signed, and read back only under our domain with the right signature', () => {
    const address = verpAddress(KEYS, 12345, 'bounces.example.org');
    expect(address).toMatch(/^bounces\+12345-[0-9a-f]{16}@bounces\.example\.org$/);
    expect(verpDelivery(KEYS, address, 'bounces.example.org')).toBe(12345);
    // Mail systems may change the case of an address; the signature is lowercase hex for that reason.
    expect(verpDelivery(KEYS, address.toUpperCase(), 'Bounces.Example.org')).toBe(12345);
    expect(verpDelivery(KEYS, address.replace('12345', '12346'), 'bounces.example.org')).toBeNull();
    expect(verpDelivery(KEYS, address, 'example.org')).toBeNull();
    expect(verpDelivery(new Keyring(NEXT_KEY), address, 'bounces.example.org')).toBeNull();
    // After a key rotation the bounces of mail signed with the previous key still count.
    const rotated = new Keyring(NEXT_KEY, [KEY]);
    expect(verpDelivery(rotated, address, 'bounces.example.org')).toBe(12345);
    expect(verpAddress(rotated, 12345, 'bounces.example.org')).not.toBe(address);
    // One signature character changed (to another hex digit: '0' when it was not one already, which made this pass by luck 1 time in 16 before).
    expect(
      verpDelivery(
        KEYS,
        address.replace(/(.)@/, (_, last: string) => (last === '0' ? '1@' : '0@')),
        'bounces.example.org',
      ),
    ).toBeNull();
    expect(verpDelivery(KEYS, 'bounces@bounces.example.org', 'bounces.example.org')).toBeNull();
  });
});

describe('reading reports', () => {
  it('reads the DSN Postfix wrote for a 550: failed, 5.1.1, the diagnostic, the original envelope sender', async () => {
    const report = await readReport(
      Buffer.from(
        fixture('postfix-550.eml', { VERP: 'bounces+7-0123456789abcdef@b.example', RECIPIENT: 'Ghost@Desk.example' }),
      ),
    );
    expect(report).toEqual({
      type: 'dsn',
      subject: 'Undelivered Mail Returned to Sender',
      senders: ['bounces+7-0123456789abcdef@b.example', 'bounces+7-0123456789abcdef@b.example'],
      recipients: [
        {
          recipient: 'ghost@desk.example',
          action: 'failed',
          status: '5.1.1',
          diagnostic: 'smtp; 550 5.1.1 <Ghost@Desk.example>: Recipient address rejected: User unknown',
        },
      ],
    });
  });

  it('reads a delay warning as delayed, and a complaint after RFC 5965', async () => {
    const delayed = await readReport(
      Buffer.from(fixture('postfix-452-delayed.eml', { VERP: 'v@b.example', RECIPIENT: 'soft@desk.example' })),
    );
    expect(delayed.type === 'dsn' && delayed.recipients[0]).toMatchObject({ action: 'delayed', status: '4.2.2' });
    const arf = await readReport(
      Buffer.from(
        fixture('arf-rfc5965.eml', {
          FEEDBACK_TYPE: 'abuse',
          ORIGINAL_MAIL_FROM: 'first@b.example',
          RETURN_PATH: 'second@b.example',
          RECIPIENT: 'user@example.com',
        }),
      ),
    );
    expect(arf).toMatchObject({
      type: 'arf',
      feedbackType: 'abuse',
      recipient: 'user@example.com',
      senders: ['first@b.example', 'second@b.example'],
    });
  });

  it('calls anything else other or malformed, never throws', async () => {
    expect(
      await readReport(Buffer.from('Subject: Out of office\r\nFrom: A <a@example.org>\r\n\r\nback Monday\r\n')),
    ).toEqual({ type: 'other', subject: 'Out of office', from: 'a@example.org' });
    expect(
      (
        await readReport(
          Buffer.from(
            'Content-Type: multipart/report; report-type=delivery-status; boundary=x\r\n\r\n--x\r\n\r\nnothing\r\n--x--\r\n',
          ),
        )
      ).type,
    ).toBe('malformed');
    expect((await readReport(Buffer.from([0, 255, 254, 13, 10, 13, 10]))).type).toMatch(/other|malformed/);
  });

  it('unfolds continuation lines and keeps each block apart', () => {
    expect(fieldGroups('A: 1\r\nB: two\r\n  lines\r\n\r\nA: 3\r\n')).toEqual([
      new Map([
        ['a', '1'],
        ['b', 'two lines'],
      ]),
      new Map([['a', '3']]),
    ]);
  });
});

describe('what a report means', () => {
  const r = (action: string, status: string) => ({ recipient: 'x@example.org', action, status, diagnostic: null });
  it('suppresses only failures that say the address is bad; policy blocks and full mailboxes count as soft', () => {
    expect(dsnFeedback(r('failed', '5.1.1'))).toMatchObject({ final: true, permanent: true });
    expect(dsnFeedback(r('failed', '5.7.26'))).toMatchObject({ final: true, permanent: false });
    expect(dsnFeedback(r('failed', '5.2.2'))).toMatchObject({ final: true, permanent: false });
    expect(dsnFeedback(r('failed', '4.4.7'))).toMatchObject({ final: true, permanent: false });
    expect(dsnFeedback(r('delayed', '4.2.2'))).toMatchObject({ final: false, permanent: false });
    expect(dsnFeedback(r('delivered', '2.0.0'))).toBeNull();
    expect(dsnFeedback(r('relayed', '2.0.0'))).toBeNull();
    expect([isComplaint('abuse'), isComplaint('fraud'), isComplaint('not-spam'), isComplaint('virus')]).toEqual([
      true,
      true,
      false,
      false,
    ]);
  });

  it('finds the unsubscribe token in the subject as List-Unsubscribe offers it, or in the address', () => {
    const token = '12.34.abcdefghijklmnopqrstuv';
    expect(unsubscribeTokenOf(`unsubscribe ${token}`, ['u@b.example'])).toBe(token);
    expect(unsubscribeTokenOf(`Re: UNSUBSCRIBE  ${token}`, ['u@b.example'])).toBe(token);
    expect(unsubscribeTokenOf('please remove me', [`u+${token}@b.example`])).toBe(token);
    expect(unsubscribeTokenOf('please remove me', ['u@b.example'])).toBeNull();
  });
});
