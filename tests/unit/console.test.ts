import { describe, expect, it } from 'vitest';
import { hashPassword, verifyPassword } from '../../src/auth/password.js';
import { checkSetupToken, createSetupToken } from '../../src/auth/setup-link.js';
import {
  cancelMessage,
  journalists,
  rescheduleMessage,
  scheduleMessage,
  shortWhen,
} from '../../src/console/confirm.js';
import { html, raw } from '../../src/render/html.js';
import { auditDetails } from '../../src/console/pages/report.js';
import { Keyring, randomToken } from '../../src/signing.js';

describe('passwords', () => {
  it('verifies the right password only, with a fresh salt each time', async () => {
    const stored = await hashPassword('correct horse battery');
    expect(stored).toMatch(/^scrypt\$131072\$8\$1\$/);
    expect(await verifyPassword('correct horse battery', stored)).toBe(true);
    expect(await verifyPassword('correct horse batterY', stored)).toBe(false);
    expect(await hashPassword('correct horse battery')).not.toBe(stored);
    expect(await verifyPassword('anything', 'not-a-hash')).toBe(false);
  });
});

describe('setup links', () => {
  const keys = new Keyring(randomToken());
  it('accepts its own signature until it expires, and nothing else', () => {
    const now = Date.UTC(2030, 0, 1);
    const token = createSetupToken(keys, now);
    expect(checkSetupToken(keys, token, now)).toBeNull();
    expect(checkSetupToken(keys, token, now + 25 * 3_600_000)).toBe('expired');
    expect(checkSetupToken(new Keyring(randomToken()), token, now)).toBe('invalid');
    const [expiry, nonce, signature] = token.split('.');
    expect(checkSetupToken(keys, `${Number(expiry) + 3_600_000}.${nonce}.${signature}`, now)).toBe('invalid');
    expect(checkSetupToken(keys, 'garbage', now)).toBe('invalid');
  });
});

describe('confirmation wording', () => {
  const embargo = new Date('2019-10-18T04:01:00Z');
  const now = new Date('2019-10-01T00:00:00Z');
  it('says who receives what, when, in the release zone and UTC', () => {
    expect(shortWhen(embargo, 'America/New_York', now)).toBe('00:01 EDT Fri 18 Oct (04:01 UTC)');
    expect(shortWhen(embargo, 'Europe/London', new Date('2025-01-01'))).toBe('05:01 BST Fri 18 Oct 2019 (04:01 UTC)');
    expect(shortWhen(embargo, 'UTC', now)).toBe('04:01 UTC Fri 18 Oct');
    expect(journalists(37412)).toBe('37,412 journalists');
    expect(journalists(1)).toBe('1 journalist');
    expect(scheduleMessage(0, embargo, 'UTC')).toMatch(/^No journalists will receive this at 04:01 UTC Fri 18 Oct/);
  });

  it('names both instants when an embargo moves, and what cancelling a send leaves behind', () => {
    const later = new Date('2019-10-19T04:01:00Z');
    expect(rescheduleMessage(2, embargo, later, 'UTC')).toMatch(
      /from 04:01 UTC Fri 18 Oct.* to 04:01 UTC Sat 19 Oct.*2 journalists will receive this at the new time/,
    );
    expect(cancelMessage('sending', 30, 70, embargo, 'UTC')).toBe(
      'Sending stops: 30 journalists still waiting will not receive this. 70 already sent cannot be recalled.',
    );
  });
});

describe('html templates', () => {
  it('escape every interpolated value unless it is marked raw', () => {
    const name = '<img src=x onerror=alert(1)> & "quotes"';
    expect(html`<p title="${name}">${name}</p>`.text).toBe(
      '<p title="&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;">&lt;img src=x onerror=alert(1)&gt; &amp; &quot;quotes&quot;</p>',
    );
    expect(html`<ul>${['a', 'b'].map((x) => html`<li>${x}</li>`)}</ul>`.text).toBe('<ul><li>a</li><li>b</li></ul>');
    expect(html`${raw('<br>')}${null}${false}${0}`.text).toBe('<br>0');
  });
});

describe('audit details', () => {
  it('say what moved and why, in the release zone, without internal ids', () => {
    const moved = {
      fields: ['embargo'],
      version: 3,
      timeZone: 'America/New_York',
      embargoBefore: '2019-10-18T04:01:00.000Z',
      embargoAfter: '2019-10-19T04:01:00.000Z',
      sendAt: '2019-10-19T04:01:00.000Z',
    };
    expect(auditDetails(moved, 'America/New_York')).toMatch(
      /^Embargo 00:01 EDT Fri 18 Oct 2019 \(04:01 UTC\) → 00:01 EDT Sat 19 Oct 2019 \(04:01 UTC\) · Changed: embargo$/,
    );
    expect(
      auditDetails(
        { reason: 'leaked', embargoBefore: '2019-10-18T04:01:00Z', embargoAfter: '2019-10-18T04:01:00Z' },
        'UTC',
      ),
    ).toBe('Reason: leaked · Embargo 04:01 UTC Fri 18 Oct 2019');
    expect(auditDetails({ deliveries: 3, email: 'x@example.org' }, 'UTC')).toBe('3 deliveries · email: x@example.org');
  });
});
