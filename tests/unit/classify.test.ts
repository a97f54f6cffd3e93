import { describe, expect, it } from 'vitest';
import { classifySmtpError } from '../../src/mail/classify.js';

const reply = (responseCode: number, response: string) =>
  Object.assign(new Error(response), { responseCode, response });

describe('classifySmtpError', () => {
  it('ends the delivery on a 5xx and suppresses unknown or refused mailboxes', () => {
    expect(classifySmtpError(reply(550, '550 5.1.1 no such user'))).toMatchObject({
      permanent: true,
      suppress: true,
      reply: '550 5.1.1 no such user',
    });
    expect(classifySmtpError(reply(553, '553 mailbox name not allowed'))).toMatchObject({
      permanent: true,
      suppress: true,
    });
    expect(classifySmtpError(reply(552, '552 message too large'))).toMatchObject({ permanent: true, suppress: false });
  });

  it('retries 4xx replies, and flags 421 as a request to slow down', () => {
    expect(classifySmtpError(reply(451, '451 try later'))).toMatchObject({ permanent: false, slowDown: false });
    expect(classifySmtpError(reply(450, '450 mailbox busy'))).toMatchObject({ permanent: false });
    expect(classifySmtpError(reply(421, '421 slow down'))).toMatchObject({ permanent: false, slowDown: true });
    // 4.7.x: the receiving side's rate or reputation limits (Gmail's 4.7.28, greylisting's 4.7.1).
    expect(classifySmtpError(reply(450, '450-4.7.28 unusual rate of unsolicited mail'))).toMatchObject({
      permanent: false,
      slowDown: true,
    });
    expect(classifySmtpError(reply(451, '451 4.7.1 Please try again later'))).toMatchObject({
      permanent: false,
      slowDown: true,
    });
    expect(classifySmtpError(reply(452, '452 4.2.2 mailbox full'))).toMatchObject({
      permanent: false,
      slowDown: false,
    });
  });

  it('retries network failures that carry no reply', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:25'), { code: 'ECONNECTION' });
    expect(classifySmtpError(refused)).toMatchObject({
      permanent: false,
      suppress: false,
      reply: expect.stringContaining('ECONNREFUSED'),
    });
  });
});
