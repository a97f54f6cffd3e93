import { describe, expect, it } from 'vitest';
import DKIM from 'nodemailer/lib/dkim/index.js';
import mimeFuncs from 'nodemailer/lib/mime-funcs/index.js';
import MimeNode from 'nodemailer/lib/mime-node/index.js';
import { encode, wrap } from 'nodemailer/lib/qp/index.js';
import SMTPConnection from 'nodemailer/lib/smtp-connection/index.js';
import pkg from 'nodemailer/package.json' with { type: 'json' };

/**
 * src/mail/ builds messages from nodemailer's internal modules, which are not its public API and
 * may change in any release; package.json pins the exact version. An upgrade that moves or changes
 * them fails here, by name, before it can garble a message.
 */
describe('the nodemailer internals src/mail/ relies on', () => {
  it('are the pinned version', () => {
    expect(pkg.version).toBe('7.0.13');
  });

  it('still offer what src/mail/ calls, behaving as it expects', () => {
    expect(wrap(encode('Zoë'), 76)).toBe('Zo=C3=AB');
    expect(mimeFuncs.foldLines('Subject: x', 76)).toBe('Subject: x');
    expect(mimeFuncs.encodeWord('이정민', 'B', 52)).toBe('=?UTF-8?B?7J207KCV66+8?=');
    const node = new MimeNode('multipart/alternative', { baseBoundary: 'presslift', boundaryPrefix: '=_Presslift' });
    node.setHeader('To', 'ada@example.org');
    expect(node.buildHeaders()).toContain('To: ada@example.org');
    expect(node.getEnvelope()).toEqual({ from: false, to: ['ada@example.org'] });
    expect(typeof new DKIM({ domainName: 'x.org', keySelector: 's', privateKey: 'k' }).sign).toBe('function');
    for (const method of ['connect', 'login', 'send', 'close'])
      expect(typeof (SMTPConnection.prototype as unknown as Record<string, unknown>)[method]).toBe('function');
    // The pipelined transaction (src/mail/smtp-transaction.ts) drives these fields directly.
    const connection = new SMTPConnection({}) as unknown as Record<string, unknown>;
    expect(Array.isArray(connection._responseActions) && Array.isArray(connection._supportedExtensions)).toBe(true);
    expect(connection).toHaveProperty('_socket');
  });
});
