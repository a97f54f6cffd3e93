import { createHmac } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { compileEmail, sizeLabel } from '../../src/render/compile.js';
import { personalise } from '../../src/render/personalise.js';
import { signUnsubscribeToken, verifyUnsubscribeToken } from '../../src/mail/unsubscribe-token.js';
import { Keyring, randomToken } from '../../src/signing.js';

const content = {
  title: 'Results <embargoed> & more',
  summary: 'Summary',
  bodyMarkdown: 'Hello **world** <script>alert(1)</script> <a href="javascript:alert(2)">x</a> <b onclick="x()">b</b>',
  embargoAt: new Date('2019-10-18T04:01:00Z'),
  embargoTimeZone: 'America/New_York',
  phase: 'advance' as const,
  contact: { name: 'Press <Office>', email: 'press@x.org', phone: null },
  attachments: [{ filename: 'a&b.pdf', url: 'https://x.org/releases/r/files/1/a%26b.pdf', size: 1_234_567 }],
};
const org = {
  name: 'Org',
  address: '1 Street',
  logoUrl: null,
  publicUrl: 'https://x.org',
  contact: { name: 'Desk', email: null, phone: null },
};

describe('compileEmail and personalise', () => {
  it('fills each recipient in, escaped for HTML', async () => {
    const compiled = await compileEmail(content, org);
    const copy = personalise(compiled, {
      name: '<b>Eve</b> & "Co"',
      email: 'e@x.org',
      list_name: 'Science',
      unsubscribe_url: 'https://x.org/u/1?a=1&b=2',
      file_key: '1.k',
    });
    expect(copy.html).toContain('Dear &lt;b&gt;Eve&lt;/b&gt; &amp; &quot;Co&quot;,');
    expect(copy.html).toContain('href="https://x.org/u/1?a=1&amp;b=2"');
    expect(copy.text).toContain('Dear <b>Eve</b> & "Co",');
    expect(copy.text).toContain('Unsubscribe: https://x.org/u/1?a=1&b=2');
    expect(copy.html).toContain('Results &lt;embargoed&gt; &amp; more');
    expect(copy.html).toContain('EMBARGOED — NOT FOR PUBLICATION UNTIL 00:01 EDT, Friday 18 October 2019 (04:01 UTC)');
    expect(copy.subject).toBe(
      'EMBARGOED — NOT FOR PUBLICATION UNTIL 00:01 EDT, Friday 18 October 2019 (04:01 UTC): Results <embargoed> & more',
    );
    expect(copy.html).not.toMatch(/<script|javascript:|onclick/);
    expect(copy.html).not.toMatch(/[\uE000\uE001]/);
    expect(copy.html).toContain('Press &lt;Office&gt;');
    expect(copy.html).toContain('<a href="https://x.org/releases/r/files/1/a%26b.pdf">a&amp;b.pdf</a>');
    expect(copy.text).toContain('- a&b.pdf (1.2 MB): https://x.org/releases/r/files/1/a%26b.pdf');
    expect(compiled.replyTo).toEqual({ name: 'Press <Office>', address: 'press@x.org' });
  });

  it('leaves out the embargo banner, the downloads and the reply address when there are none', async () => {
    const compiled = await compileEmail(
      { ...content, phase: 'lift', attachments: [], contact: { name: 'Desk', email: null, phone: null } },
      org,
    );
    expect(compiled.html).not.toContain('NOT FOR PUBLICATION');
    expect(compiled.subject).toBe(content.title);
    expect(compiled.html).not.toContain('Downloads');
    expect(compiled.text).not.toContain('Downloads');
    expect(compiled.replyTo).toBeNull();
  });

  it('does not let staff text forge a recipient slot', async () => {
    const compiled = await compileEmail(
      { ...content, phase: 'lift', title: 'Hi \uE000email\uE001', bodyMarkdown: 'x \uE000unsubscribe_url\uE001' },
      org,
    );
    const copy = personalise(compiled, {
      name: 'A',
      email: 'secret@x.org',
      list_name: 'L',
      unsubscribe_url: 'https://u',
      file_key: '1.k',
    });
    expect(copy.subject).toBe('Hi email');
    expect(copy.html).not.toContain('secret@x.org');
  });
});

describe('unsubscribe tokens', () => {
  const key = randomToken();
  it('verify for the pair they were made for and refuse any change', () => {
    const token = signUnsubscribeToken(new Keyring(key), 41, 7);
    expect(verifyUnsubscribeToken(new Keyring(key), token)).toEqual({ subscriberId: 41, listId: 7 });
    expect(verifyUnsubscribeToken(new Keyring(key), token.replace(/^41\./, '42.'))).toBeNull();
    expect(verifyUnsubscribeToken(new Keyring(randomToken()), token)).toBeNull();
    expect(verifyUnsubscribeToken(new Keyring(key), 'garbage')).toBeNull();
  });

  it('keep the form of the links already sent: HMAC-SHA256 of "unsubscribe:<subscriber>.<list>", 22 characters', () => {
    const sentBefore = `41.7.${createHmac('sha256', key).update('unsubscribe:41.7').digest('base64url').slice(0, 22)}`;
    expect(signUnsubscribeToken(new Keyring(key), 41, 7)).toBe(sentBefore);
  });

  it('keep verifying after a rotation while the old key is listed, and stop once it is removed', () => {
    const old = signUnsubscribeToken(new Keyring(key), 41, 7);
    const next = randomToken();
    expect(verifyUnsubscribeToken(new Keyring(next, [key]), old)).toEqual({ subscriberId: 41, listId: 7 });
    expect(signUnsubscribeToken(new Keyring(next, [key]), 41, 7)).toBe(signUnsubscribeToken(new Keyring(next), 41, 7));
    expect(verifyUnsubscribeToken(new Keyring(next), old)).toBeNull();
  });
});

describe('sizeLabel', () => {
  it('reads like a download list', () => {
    expect([sizeLabel(12), sizeLabel(312_000), sizeLabel(2_400_000)]).toEqual(['1 KB', '312 KB', '2.4 MB']);
  });
});
