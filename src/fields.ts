import { z } from 'zod';

// Refusing control characters is the point of these two patterns.
/* eslint-disable no-control-regex */
const CONTROL = /[\u0000-\u001f\u007f]/;
const CONTROL_BUT_NEWLINES = /[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f]/;
/* eslint-enable no-control-regex */
/** Half of a surrogate pair, alone: JSON may carry one ("\\ud800"), but it cannot be stored without being replaced. */
const LONE_SURROGATE = /[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]/;

/** Any text we store: refused rather than silently altered when it is not valid Unicode. */
const unicodeText = () => z.string().refine((v) => !LONE_SURROGATE.test(v), 'must be valid Unicode text');

/** One line of text: no CR/LF or other control characters, which could forge mail headers. */
export const lineText = (max: number) =>
  unicodeText()
    .trim()
    .min(1, 'must not be empty')
    .max(max, `must be at most ${max} characters`)
    .refine((v) => !CONTROL.test(v), 'must not contain line breaks or control characters');

/** Free text such as a summary: line breaks allowed, other control characters not. */
export const multilineText = (max: number) =>
  unicodeText()
    .max(max, `must be at most ${max} characters`)
    .refine((v) => !CONTROL_BUT_NEWLINES.test(v), 'must not contain control characters');

export const emailAddress = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .refine((v) => !CONTROL.test(v), 'must not contain line breaks or control characters')
  .pipe(z.email('must be a valid email address'));

/** Scripts that are written together: Japanese mixes Han and kana, Korean Hangul and Han. */
const CJK = ['Han', 'Hiragana', 'Katakana', 'Hangul'];
const SCRIPTS = [
  'Latin',
  'Cyrillic',
  'Greek',
  'Armenian',
  'Hebrew',
  'Arabic',
  'Devanagari',
  'Bengali',
  'Thai',
  'Georgian',
  'Ethiopic',
  ...CJK,
];
const scriptOf = (char: string) =>
  SCRIPTS.find((script) => new RegExp(`\\p{Script=${script}}`, 'u').test(char)) ?? 'Other';

/**
 * Whether a non-ASCII local part is letters, digits, dots, hyphens, underscores and plus signs of one writing system.
 */
function unicodeLocalPart(local: string): boolean {
  if (!/^[\p{L}\p{M}\p{N}_+-]+(\.[\p{L}\p{M}\p{N}_+-]+)*$/u.test(local) || local.length > 64) return false;
  const scripts = new Set([...local].filter((c) => /\p{L}/u.test(c)).map(scriptOf));
  if (scripts.has('Other')) return false;
  // One script, or CJK scripts together: "аdmin" (a Cyrillic а among Latin letters) is a look-alike.
  return scripts.size <= 1 || [...scripts].every((script) => CJK.includes(script));
}

/**
 * A journalist's address, which may carry a non-ASCII local part (RFC 6531, e.g. 이정민@example.kr):
 * letters of one writing system (so no look-alike mixes such as a Cyrillic "а" among Latin
 * letters), at an ASCII domain held to the same rules as emailAddress. Such addresses are sent with
 * SMTPUTF8, and a relay that does not offer it fails that delivery with a reason that says so
 * (src/mail/smtp-pool.ts).
 */
export const internationalAddress = z
  .string()
  .trim()
  .max(254, 'must be at most 254 characters')
  .refine((v) => !CONTROL.test(v), 'must not contain line breaks or control characters')
  .refine((v) => {
    if (/^\p{ASCII}*$/u.test(v)) return z.email().safeParse(v).success;
    const at = v.lastIndexOf('@');
    return at > 0 && unicodeLocalPart(v.slice(0, at)) && z.email().safeParse(`a@${v.slice(at + 1)}`).success;
  }, 'must be a valid email address (letters of one alphabet before the @ may be non-ASCII, the domain must be ASCII)');

export const optionalLine = (max: number) =>
  z
    .preprocess((v) => (typeof v === 'string' && v.trim() === '' ? null : v), lineText(max).nullable().optional())
    .transform((v) => v ?? null);

export const idParam = z.coerce
  .number()
  .int('must be a whole number')
  .positive('must be positive')
  .max(2 ** 53);
