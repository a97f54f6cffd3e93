import { PassThrough } from 'node:stream';
import fc from 'fast-check';
import DataStream from 'nodemailer/lib/smtp-connection/data-stream.js';
import { describe, expect, it } from 'vitest';
import { dotStuff } from '../../src/mail/smtp-transaction.js';

/** What nodemailer's own transaction writes after DATA for `raw`, written in one chunk. */
function nodemailerStuffed(raw: Buffer): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const stream = new DataStream();
    const out = new PassThrough();
    const chunks: Buffer[] = [];
    out.on('data', (chunk: Buffer) => chunks.push(chunk));
    out.on('end', () => resolve(Buffer.concat(chunks)));
    stream.on('error', reject);
    stream.pipe(out);
    stream.end(raw);
  });
}

describe('dotStuff', () => {
  it('writes byte for byte what nodemailer’s DataStream writes, for any mix of dots and line ends', async () => {
    const bytes = fc.constantFrom(0x2e, 0x0d, 0x0a, 0x61, 0x20);
    await fc.assert(
      fc.asyncProperty(fc.array(bytes, { minLength: 1, maxLength: 200 }), async (array) => {
        const raw = Buffer.from(array);
        expect(dotStuff(raw).toString('latin1')).toBe((await nodemailerStuffed(raw)).toString('latin1'));
      }),
      { numRuns: 2000 },
    );
  });

  it('doubles leading dots, keeps CRLF, and ends with the terminating dot line', () => {
    expect(dotStuff(Buffer.from('.a\r\n..b\r\nc.\r\n')).toString()).toBe('..a\r\n...b\r\nc.\r\n.\r\n');
    expect(dotStuff(Buffer.from('a\nb')).toString()).toBe('a\r\nb\r\n.\r\n');
  });
});
