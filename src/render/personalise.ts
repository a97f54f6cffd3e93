import { SLOT_PATTERN, type CompiledEmail, type Slot } from './compile';
import { escapeHtml } from './escape';

export type RecipientValues = Record<Slot, string>;

/** Fills a template's slots with a recipient's values, each escaped for where it lands. */
export function fill(template: string, values: RecipientValues, escape: (value: string) => string): string {
  return template.replace(SLOT_PATTERN, (_, slot: string) => escape(values[slot as Slot] ?? ''));
}

const verbatim = (value: string) => value;

/** How a value is escaped in each part: HTML slots for HTML; subject and text take it as it is. */
export const SLOT_ESCAPES: Record<'subject' | 'html' | 'text', (value: string) => string> = { subject: verbatim, html: escapeHtml, text: verbatim };

/** One recipient's copy as strings (messages are built from pre-encoded parts, see mail/body.ts). */
export function personalise(compiled: CompiledEmail, values: RecipientValues): CompiledEmail {
  return {
    ...compiled,
    subject: fill(compiled.subject, values, SLOT_ESCAPES.subject),
    html: fill(compiled.html, values, SLOT_ESCAPES.html),
    text: fill(compiled.text, values, SLOT_ESCAPES.text),
  };
}
