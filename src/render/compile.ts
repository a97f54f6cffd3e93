import { readFile } from 'node:fs/promises';
import mjml2html from 'mjml';
import Mustache from 'mustache';
import { DateTime } from 'luxon';
import { embargoPhrase } from '../embargo/time';
import { htmlToText, markdownToHtml } from './markdown';
import type { Phase } from '../states';
import type { Organisation, PressContact } from './organisation';
import { escapeHtml } from './escape';

/** Per-recipient values, filled in after the one MJML compile of a release version. */
export const SLOTS = ['name', 'email', 'list_name', 'unsubscribe_url', 'preferences_url', 'embargo_local'] as const;
export type Slot = (typeof SLOTS)[number];

// Private-use characters survive MJML, Mustache escaping and minification untouched, and
// Markdown sanitising removes none that staff could type to forge a slot (see stripSlotMarks).
const OPEN = '\uE000';
const CLOSE = '\uE001';
export const SLOT_PATTERN = /\uE000([a-z_]+)\uE001/g;
const slotMark = (slot: Slot) => `${OPEN}${slot}${CLOSE}`;

export interface AttachmentLink {
  filename: string;
  url: string;
  size: number;
}

export interface EmailContent {
  title: string;
  summary: string | null;
  bodyMarkdown: string;
  embargoAt: Date;
  embargoTimeZone: string;
  /** An advance copy carries the embargo marking in its subject and banner; a lift copy none. */
  phase: Phase;
  /** The release's own contact, each empty field filled from the organisation's press office. */
  contact: PressContact;
  attachments: AttachmentLink[];
}

/** A release version's email with its recipient slots still open. */
export interface CompiledEmail {
  subject: string;
  html: string;
  text: string;
  /** Replies go to the press contact, not to the sending address. */
  replyTo: { name: string; address: string } | null;
  /** The embargo, for the recipient's own embargo line (the `embargo_local` slot); absent in a bare compile. */
  embargo?: { at: Date; timeZone: string };
  /** An advance copy's calendar entry for the lift (see calendar.ts), attached to each copy. */
  calendar?: string;
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

const PARTIALS = ['header', 'banner', 'article', 'attachments', 'contact', 'footer'] as const;
async function partials(): Promise<Record<string, string>> {
  const sources = await Promise.all(PARTIALS.map((name) => template(`partials/${name}.mjml`)));
  return Object.fromEntries(PARTIALS.map((name, i) => [name, sources[i]!]));
}

/** "2.4 MB", "312 KB": sizes as a reader scans them next to a download link. */
export function sizeLabel(bytes: number): string {
  if (bytes >= 1_000_000) return `${(bytes / 1_000_000).toFixed(1)} MB`;
  return `${Math.max(1, Math.round(bytes / 1000))} KB`;
}

/**
 * The words every advance copy carries, in its subject and at the top of its body. The instant is
 * a slot: each recipient reads it in their own time zone (or the release's) and in UTC.
 */
const EMBARGO_MARKING = `EMBARGOED — NOT FOR PUBLICATION UNTIL ${slotMark('embargo_local')}`;

/** The embargo line's instant for one recipient: in their zone when they chose one, and in UTC. */
export function embargoLine(embargo: { at: Date; timeZone: string }, recipientZone: string | null | undefined): string {
  return embargoPhrase(embargo.at, recipientZone || embargo.timeZone);
}

function banner(content: EmailContent) {
  if (content.phase !== 'advance') return null;
  return {
    headline: EMBARGO_MARKING,
    terms:
      'This advance copy is sent to you in confidence under embargo. Do not publish, broadcast or post it, ' +
      'or share it beyond your newsroom, before that time.',
    background: '#fff4e5',
    accent: '#d97706',
    color: '#7a4100',
  };
}

export async function compileEmail(content: EmailContent, org: Organisation): Promise<CompiledEmail> {
  const bodyHtml = markdownToHtml(stripSlotMarks(content.bodyMarkdown));
  const contact = {
    name: stripSlotMarks(content.contact.name),
    email: content.contact.email,
    phone: content.contact.phone ? stripSlotMarks(content.contact.phone) : null,
    phoneDial: content.contact.phone?.replace(/[^+\d]/g, '') ?? null,
  };
  const view = {
    org,
    title: stripSlotMarks(content.title),
    summary: content.summary ? stripSlotMarks(content.summary) : null,
    dateline: DateTime.fromJSDate(content.embargoAt, { zone: content.embargoTimeZone }).setLocale('en-GB').toFormat('d LLLL yyyy'),
    banner: banner(content),
    contact,
    attachments: content.attachments.map((a) => ({ filename: stripSlotMarks(a.filename), url: a.url, sizeLabel: sizeLabel(a.size) })),
    recipient: Object.fromEntries(SLOTS.map((slot) => [slot, slotMark(slot)])),
  };

  // Mustache's own escaping also rewrites "/" and "=", which would garble every URL in the source.
  const mjmlSource = Mustache.render(await template('release.mjml'), { ...view, bodyHtml }, await partials(), { escape: escapeHtml });
  compiles += 1;
  const result = await mjml2html(mjmlSource, { validationLevel: 'strict', keepComments: false });
  const text = Mustache.render(await template('release.txt'), { ...view, bodyText: htmlToText(bodyHtml) }, {}, {
    escape: (value: string) => value,
  });
  return {
    subject: content.phase === 'advance' ? `${EMBARGO_MARKING}: ${view.title}` : view.title,
    html: result.html,
    text: text.replace(/\n{3,}/g, '\n\n').trim() + '\n',
    replyTo: contact.email ? { name: contact.name, address: contact.email } : null,
    embargo: { at: content.embargoAt, timeZone: content.embargoTimeZone },
  };
}
