import { generateKeyPairSync } from 'node:crypto';
import { simpleParser, type ParsedMail } from 'mailparser';
import { dkimVerify } from 'mailauth/lib/dkim/verify.js';
import type { SendMailOptions } from 'nodemailer';
import nodemailer from 'nodemailer';
import { describe, expect, it } from 'vitest';
import { BOUNDARY_OPTIONS } from '../../src/mail/assemble.js';
import type { Recipient } from '../../src/db/deliveries.js';
import { assembleMessage } from '../../src/mail/assemble.js';
import { personaliseMessage, recipientValues, type MessageSettings } from '../../src/mail/message.js';
import { verpAddress } from '../../src/mail/verp.js';
import { personalise } from '../../src/render/personalise.js';
import { Keyring, randomToken } from '../../src/signing.js';
import { compileSample } from '../../scripts/lib/sample-email.js';

const settings: MessageSettings = {
  from: 'Presslift Newsroom <newsroom@news.example.org>',
  // A long public address makes the signed unsubscribe URL far longer than a 76-character line.
  publicUrl: 'https://newsroom.example.org/very/long/path/to/the/press/office/of/the/institute/for/advanced/studies',
  keys: new Keyring(randomToken()),
  unsubscribeMailbox: 'unsubscribe@news.example.org',
  bounceDomain: 'bounces.news.example.org',
  feedbackId: 'northbridge',
  dkim: null,
};
const compiled = compileSample({ phase: 'lift', title: 'Résultats: 양자 센서 maps the brain' });

function recipient(name: string | null, id: number): Recipient {
  return {
    deliveryId: id,
    releaseId: 7,
    subscriberId: id,
    listId: 3,
    email: `reader${id}@example.org`,
    name,
    listName: 'Wissenschaft & Technik',
    listSlug: 'science',
  };
}

// Composes (and, with DKIM, signs) as the SMTP transport does, into memory.
const composer = nodemailer.createTransport({ streamTransport: true, buffer: true, newline: 'windows' });

async function compose(message: SendMailOptions): Promise<{ parsed: ParsedMail; raw: string }> {
  // The assembled message's boundary for nodemailer's compositions too, so that headers compare equal.
  const raw = (await composer.sendMail({ ...message, ...BOUNDARY_OPTIONS } as SendMailOptions)).message.toString(
    'utf8',
  );
  return { parsed: await simpleParser(raw), raw };
}

/** The same message as nodemailer composes it from whole strings (the path the pre-built parts replace). */
async function composedByNodemailer(r: Recipient, with_: MessageSettings = settings): Promise<SendMailOptions> {
  const copy = personalise(await compiled, recipientValues(r, with_));
  return { ...personaliseMessage(await compiled, r, with_), html: copy.html, text: copy.text };
}

const headersWithoutDate = (parsed: ParsedMail) =>
  parsed.headerLines.filter((h) => h.key !== 'date').map((h) => h.line);

describe('pre-built MIME body parts', () => {
  const names = [
    '이정민',
    'Zoë Müller',
    'Ann "The Quill" <b>O\'Neil</b> & Co',
    `Dr ${'Verylongname '.repeat(8)}= end `,
    null,
  ];

  it.each(names.map((name, i) => [name, i + 1] as const))(
    'parse exactly as nodemailer composing the whole message would, for %s',
    async (name, id) => {
      const fast = await compose(assembleMessage(personaliseMessage(await compiled, recipient(name, id), settings)));
      const reference = await compose(await composedByNodemailer(recipient(name, id)));
      expect(fast.parsed.html).toBe(reference.parsed.html);
      expect(fast.parsed.text).toBe(reference.parsed.text);
      expect(fast.parsed.subject).toBe(reference.parsed.subject);
      expect(headersWithoutDate(fast.parsed)).toEqual(headersWithoutDate(reference.parsed));
      expect(fast.parsed.to).toEqual(reference.parsed.to);
    },
  );

  it.each(names.map((name, i) => [name, i + 1] as const))(
    'is assembled byte for byte as nodemailer composes the same parts, for %s',
    async (name, id) => {
      const message = assembleMessage(personaliseMessage(await compiled, recipient(name, id), settings));
      const { raw: reference } = await compose(personaliseMessage(await compiled, recipient(name, id), settings));
      const withoutDate = (raw: string) => raw.replace(/^Date: .*\r\n/m, '');
      expect(withoutDate(message.raw!.toString())).toBe(withoutDate(reference));
      // The envelope sender is the delivery's signed bounce address; the From header stays the newsroom's.
      expect(message.envelope).toEqual({
        from: verpAddress(settings.keys, id, 'bounces.news.example.org'),
        to: [`reader${id}@example.org`],
      });
      expect(message.messageId).toBe(`<release-7.delivery-${id}@news.example.org>`);
    },
  );

  it('leaves an address that needs normalising (upper case, an international domain) to nodemailer', async () => {
    const r = { ...recipient('Zoë Müller', 6), email: 'Zoe@Straße.Example' };
    const message = assembleMessage(personaliseMessage(await compiled, r, settings));
    const { raw: reference } = await compose(personaliseMessage(await compiled, r, settings));
    const withoutDate = (raw: string) => raw.replace(/^Date: .*\r\n/m, '');
    expect(withoutDate(message.raw!.toString())).toBe(withoutDate(reference));
    expect(message.envelope).toEqual({
      from: verpAddress(settings.keys, 6, 'bounces.news.example.org'),
      to: ['Zoe@xn--strae-oqa.example'],
    });
  });

  it('escapes each value for its part and keeps every line within 76 characters', async () => {
    const r = recipient('<script>alert(1)</script> & 이정민', 9);
    const { parsed, raw } = await compose(assembleMessage(personaliseMessage(await compiled, r, settings)));
    expect(parsed.html).toContain('&lt;script&gt;alert(1)&lt;/script&gt; &amp; 이정민');
    expect(parsed.html).not.toContain('<script>');
    expect(parsed.text).toContain('<script>alert(1)</script> & 이정민');
    const unsubscribe = recipientValues(r, settings).unsubscribe_url;
    expect(unsubscribe.length).toBeGreaterThan(76);
    expect(parsed.text).toContain(unsubscribe);
    expect(parsed.html).toContain(`href="${unsubscribe}"`);
    const body = raw.slice(raw.indexOf('\r\n\r\n'));
    for (const line of body.split('\r\n')) expect(line.length).toBeLessThanOrEqual(76);
    expect(raw).toMatch(/Content-Type: text\/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable/);
  });

  it("gives each recipient their own values, never another's", async () => {
    const first = await compose(
      assembleMessage(personaliseMessage(await compiled, recipient('Zoë Müller', 1), settings)),
    );
    const second = await compose(assembleMessage(personaliseMessage(await compiled, recipient('이정민', 2), settings)));
    expect(first.parsed.html).toContain('Zoë Müller');
    expect(first.parsed.html).not.toContain('이정민');
    expect(second.parsed.text).toContain('이정민');
    expect(second.parsed.text).not.toContain('Zoë Müller');
    expect(second.parsed.text).not.toContain('reader1@example.org');
  });

  it("is DKIM-signed after personalisation, so the signature covers each recipient's body", async () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const signed = {
      ...settings,
      dkim: {
        domainName: 'news.example.org',
        keySelector: 'pl',
        privateKey: privateKey.export({ type: 'pkcs8', format: 'pem' }).toString(),
      },
    };
    const resolver = async (name: string, type: string) => {
      if (type === 'TXT' && name === 'pl._domainkey.news.example.org')
        return [[`v=DKIM1; k=rsa; p=${publicKey.export({ type: 'spki', format: 'der' }).toString('base64')}`]];
      throw Object.assign(new Error(`queryTxt ENOTFOUND ${name}`), { code: 'ENOTFOUND' });
    };
    const { raw } = await compose(assembleMessage(personaliseMessage(await compiled, recipient('이정민', 4), signed)));
    const verdict = (await dkimVerify(Buffer.from(raw), { resolver: resolver as never })).results[0]!;
    expect(verdict.status.result).toBe('pass');
    const tampered = raw.replace('=EC=9D=B4=EC=A0=95=EB=AF=BC', '=EC=9D=B4=EC=A0=95=EB=AF=BD');
    expect(tampered).not.toBe(raw);
    expect(
      (await dkimVerify(Buffer.from(tampered), { resolver: resolver as never })).results[0]!.status.result,
    ).not.toBe('pass');
  });
});
