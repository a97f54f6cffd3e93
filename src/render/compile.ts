import { readFile } from 'node:fs/promises';
import mjml2html from 'mjml';
import Mustache from 'mustache';
import { embargoPhrase } from '../embargo/time';
import { htmlToText, markdownToHtml } from './markdown';

/** Per-recipient values, filled in after the one MJML compile of a release version. */
export const SLOTS = ['name', 'email', 'list_name', 'unsubscribe_url'] as const;
export type Slot = (typeof SLOTS)[number];

// Private-use characters survive MJML, Mustache escaping and minification untouched, and
// Markdown sanitising removes none that staff could type to forge a slot (see stripSlotMarks).
const OPEN = '\uE000';
const CLOSE = '\uE001';
export const SLOT_PATTERN = /\uE000([a-z_]+)\uE001/g;
const slotMark = (slot: Slot) => `${OPEN}${slot}${CLOSE}`;

export interface EmailContent {
  title: string;
  summary: string | null;
  bodyMarkdown: string;
  embargoAt: Date;
  embargoTimeZone: string;
  /** Shows the embargo line while the release is still under embargo. */
  showEmbargoLine: boolean;
}

export interface Organisation {
  name: string;
  address: string;
}

/** A release version's email with its recipient slots still open. */
export interface CompiledEmail {
  subject: string;
  html: string;
  text: string;
}

const templateDir = new URL('../../templates/', import.meta.url);
const templates = new Map<string, Promise<string>>();
function template(name: string): Promise<string> {
  let cached = templates.get(name);
  if (!cached) {
    cached = readFile(new URL(name, templateDir), 'utf8');
    templates.set(name, cached);
  }
  return cached;
}

/** Staff text cannot contain slot marks: they would let one recipient's values leak into another's copy. */
function stripSlotMarks(value: string): string {
  return value.replace(/[\uE000\uE001]/g, '');
}

let compiles = 0;
/** How many MJML compiles this process has run (the benchmark reports it). */
export function mjmlCompileCount(): number {
  return compiles;
}

export async function compileEmail(content: EmailContent, org: Organisation): Promise<CompiledEmail> {
  const bodyHtml = markdownToHtml(stripSlotMarks(content.bodyMarkdown));
  const view = {
    org,
    title: stripSlotMarks(content.title),
    summary: content.summary ? stripSlotMarks(content.summary) : null,
    embargoLine: content.showEmbargoLine ? `Embargoed until ${embargoPhrase(content.embargoAt, content.embargoTimeZone)}` : null,
    recipient: Object.fromEntries(SLOTS.map((slot) => [slot, slotMark(slot)])),
  };

  const mjmlSource = Mustache.render(await template('release.mjml'), { ...view, bodyHtml });
  compiles += 1;
  const result = await mjml2html(mjmlSource, { validationLevel: 'strict', keepComments: false });
  const text = Mustache.render(await template('release.txt'), { ...view, bodyText: htmlToText(bodyHtml) }, {}, {
    escape: (value: string) => value,
  });
  return { subject: view.title, html: result.html, text: text.replace(/\n{3,}/g, '\n\n').trim() + '\n' };
}
