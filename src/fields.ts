import { z } from 'zod';

const CONTROL = /[\u0000-\u001f\u007f]/;
const CONTROL_BUT_NEWLINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
/** Half of a surrogate pair, alone: JSON may carry one ("\\ud800"), but it cannot be stored without being replaced. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Any text we store: refused rather than silently altered when it is not valid Unicode. */
const unicodeText = () => z.string().refine((v) => !LONE_SURROGATE.test(v), 'must be valid Unicode text');

/** One line of text: no CR/LF or other control characters, which could forge mail headers. */
export const lineText = (max: number) =>
  unicodeText().trim().min(1, 'must not be empty').max(max, `must be at most ${max} characters`)
    .refine((v) => !CONTROL.test(v), 'must not contain line breaks or control characters');

/** Free text such as a summary: line breaks allowed, other control characters not. */
export const multilineText = (max: number) =>
  unicodeText().max(max, `must be at most ${max} characters`).refine((v) => !CONTROL_BUT_NEWLINES.test(v), 'must not contain control characters');

export const emailAddress = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .refine((v) => !CONTROL.test(v), 'must not contain line breaks or control characters')
  .pipe(z.email('must be a valid email address'));

/**
 * An address that may carry non-ASCII characters (RFC 6531: a Korean local part, an
 * internationalised domain). Such addresses are sent with SMTPUTF8, and a relay that does not offer
 * it fails that delivery with a reason that says so (src/mail/smtp-pool.ts).
 */
export const internationalAddress = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .refine((v) => !CONTROL.test(v), 'must not contain line breaks or control characters')
  .pipe(z.email({ pattern: z.regexes.unicodeEmail, message: 'must be a valid email address (non-ASCII letters are allowed)' }));

export const optionalLine = (max: number) =>
  z.preprocess((v) => (typeof v === 'string' && v.trim() === '' ? null : v), lineText(max).nullable().optional())
    .transform((v) => v ?? null);

export const idParam = z.coerce.number().int('must be a whole number').positive('must be positive').max(2 ** 53);
