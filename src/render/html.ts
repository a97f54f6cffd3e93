import { escapeHtml } from './escape.js';

/** HTML built from template literals: every interpolated value is escaped unless wrapped in raw(). */
export class Html {
  constructor(readonly text: string) {}
  toString() {
    return this.text;
  }
}

/** Trusted markup, e.g. the result of another html`` call. */
export const raw = (text: string) => new Html(text);

type Value = Html | string | number | boolean | null | undefined | Value[];

function render(value: Value): string {
  if (value === null || value === undefined || value === false) return '';
  if (value instanceof Html) return value.text;
  if (Array.isArray(value)) return value.map(render).join('');
  return escapeHtml(String(value));
}

export function html(strings: TemplateStringsArray, ...values: Value[]): Html {
  let out = strings[0]!;
  values.forEach((value, i) => {
    out += render(value) + strings[i + 1]!;
  });
  return new Html(out);
}
