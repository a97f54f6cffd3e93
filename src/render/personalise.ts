import { SLOT_PATTERN, type CompiledEmail, type Slot } from './compile';
import { escapeHtml } from './escape';

export type RecipientValues = Record<Slot, string>;


function fill(template: string, values: RecipientValues, escape: (value: string) => string): string {
  return template.replace(SLOT_PATTERN, (_, slot: string) => escape(values[slot as Slot] ?? ''));
}

/** One recipient's copy: HTML slots escaped for HTML, text and subject left as they are. */
export function personalise(compiled: CompiledEmail, values: RecipientValues): CompiledEmail {
  return {
    ...compiled,
    subject: fill(compiled.subject, values, (v) => v),
    html: fill(compiled.html, values, escapeHtml),
    text: fill(compiled.text, values, (v) => v),
  };
}
