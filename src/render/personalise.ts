import { embargoLine, SLOT_PATTERN, type CompiledEmail, type Slot } from './compile.js';
import { escapeHtml } from './escape.js';

/** The slots every copy fills; the preference link and the embargo line are filled where known. */
export type RecipientValues = Record<Exclude<Slot, 'preferences_url' | 'embargo_local'>, string> &
  Partial<Record<Slot, string>>;

/** Fills a template's slots with a recipient's values, each escaped for where it lands. */
export function fill(template: string, values: RecipientValues, escape: (value: string) => string): string {
  return template.replace(SLOT_PATTERN, (_, slot: string) => escape(values[slot as Slot] ?? ''));
}

const verbatim = (value: string) => value;

/** How a value is escaped in each part: HTML slots for HTML; subject and text take it as it is. */
export const SLOT_ESCAPES: Record<'subject' | 'html' | 'text', (value: string) => string> = {
  subject: verbatim,
  html: escapeHtml,
  text: verbatim,
};

/** One recipient's copy as strings (messages are built from pre-encoded parts, see mail/body.ts). */
export function personalise(compiled: CompiledEmail, given: RecipientValues): CompiledEmail {
  // Without a recipient's own line (a preview), the embargo is given in the release's zone.
  const values = {
    ...given,
    embargo_local: given.embargo_local || (compiled.embargo ? embargoLine(compiled.embargo, null) : ''),
  };
  return {
    ...compiled,
    subject: fill(compiled.subject, values, SLOT_ESCAPES.subject),
    html: fill(compiled.html, values, SLOT_ESCAPES.html),
    text: fill(compiled.text, values, SLOT_ESCAPES.text),
  };
}
