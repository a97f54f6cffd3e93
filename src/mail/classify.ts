/** What a failed hand-over to SMTP means for the delivery. */
export interface SmtpFailure {
  /** Permanent failures end the delivery; transient ones are retried with backoff. */
  permanent: boolean;
  /** The address should never be mailed again (the mailbox does not exist or is refused). */
  suppress: boolean;
  /**
   * The server asked us to slow down (421, or a 4.7.x rate or reputation reply): pause that domain rather than burn
   * retries.
   */
  slowDown: boolean;
  reply: string;
}

const SUPPRESSING_CODES = new Set([550, 551, 553]);

interface SmtpLikeError {
  responseCode?: number;
  response?: string;
  code?: string;
  message?: string;
}

export function classifySmtpError(error: unknown): SmtpFailure {
  const e = (error ?? {}) as SmtpLikeError;
  const code = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  const reply = (e.response ?? e.message ?? String(error)).slice(0, 1000);
  // A non-ASCII address our relay cannot carry (no SMTPUTF8): it will not work on a retry, and the
  // address is not at fault, so it is not suppressed.
  if (e.code === 'ESMTPUTF8') return { permanent: true, suppress: false, slowDown: false, reply };
  if (code !== undefined && code >= 500 && code < 600) {
    return { permanent: true, suppress: SUPPRESSING_CODES.has(code), slowDown: false, reply };
  }
  // 4xx replies, refused or dropped connections, timeouts: the relay may accept it later.
  return {
    permanent: false,
    suppress: false,
    slowDown: code === 421 || (code !== undefined && /^4\d\d[ -]4\.7\.\d{1,3}\b/.test(reply)),
    reply,
  };
}
