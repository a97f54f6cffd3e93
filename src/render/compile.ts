import { readFile } from 'node:fs/promises';
import mjml2html from 'mjml';
import Mustache from 'mustache';
import { DateTime } from 'luxon';
import { embargoPhrase } from '../embargo/time.js';
import { htmlToText, markdownToHtml } from './markdown.js';
import type { ChangeKind, Phase } from '../states.js';
import type { Organisation, PressContact } from './organisation.js';
import { escapeHtml } from './escape.js';

/** Per-recipient values, filled in after the one MJML compile of a release version. */
export const SLOTS = [
  'name',
  'email',
  'list_name',
  'unsubscribe_url',
  'preferences_url',
  'embargo_local',
  'file_key',
] as const;
export type Slot = (typeof SLOTS)[number];

// Private-use characters survive MJML, Mustache escaping and minification untouched, and
// Markdown sanitising removes none that staff could type to forge a slot (see stripSlotMarks).
const OPEN = '\uE000';
const CLOSE = '\uE001';
export const SLOT_PATTERN = /\uE000([a-z_]+)\uE001/g;
const slotMark = (slot: Slot) => `${OPEN}${slot}${CLOSE}`;
/** Where an advance copy's file links take the recipient's own file key (src/mail/file-key.ts). */
export const FILE_KEY_SLOT = slotMark('file_key');

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
  /**
   * A message about a change to a release someone already holds (see src/releases/notices.ts): its
   * subject and banner say what changed. Moved, lifted and withdrawn notices are brief (the title,
   * the change, the contact: nothing the recipient does not already hold); a corrected copy under
   * embargo, or a correction after the lift, carries the whole new text.
   */
  notice?: NoticeContent;
}

export interface NoticeContent {
  kind: ChangeKind;
  /** Staff's short note of what changed, when given. */
  note: string | null;
  /** The embargo the recipient's copy named, when it is no longer valid. */
  previousEmbargoAt: Date | null;
  /** When the release was lifted early (a lifted notice). */
  liftedAt?: Date;
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

const NOTICE_COLOURS = { background: '#fdecea', accent: '#b42318', color: '#7a1b12' };

/** The subject and banner of a change notice (its words are the README's "what journalists are told"). */
function noticeWords(content: EmailContent, notice: NoticeContent, title: string) {
  const until = embargoPhrase(content.embargoAt, content.embargoTimeZone);
  const previous = notice.previousEmbargoAt ? embargoPhrase(notice.previousEmbargoAt, content.embargoTimeZone) : null;
  const note = notice.note ? ` What changed: ${stripSlotMarks(notice.note)}` : '';
  switch (notice.kind) {
    case 'moved':
      return {
        subject: `EMBARGO CHANGED: ${title}`,
        headline: `EMBARGO CHANGED — NOW NOT FOR PUBLICATION UNTIL ${until}`,
        terms:
          `The embargo on this release has moved. The new embargo is ${content.embargoAt.toISOString().replace('.000Z', 'Z')} (UTC), ${until}.` +
          (previous ? ` The earlier time, ${previous}, is no longer valid.` : '') +
          ` The rest of the copy you hold is unchanged.${note}`,
        previous,
      };
    case 'lifted':
      return {
        subject: `EMBARGO LIFTED: ${title}`,
        headline: 'EMBARGO LIFTED — YOU MAY PUBLISH NOW',
        terms:
          `The embargo on this release was lifted early${notice.liftedAt ? `, at ${embargoPhrase(notice.liftedAt, content.embargoTimeZone)}` : ''}. ` +
          `You may publish the copy you hold now; the embargo it names (${previous ?? until}) no longer applies.${note}`,
        previous,
      };
    case 'withdrawn':
      return {
        subject: `WITHDRAWN — DO NOT PUBLISH: ${title}`,
        headline: 'WITHDRAWN — DO NOT PUBLISH',
        terms:
          'This release has been withdrawn. Do not publish, broadcast or post the advance copy you hold, or anything from it, ' +
          `and please delete it. Its file links no longer work. If it is issued again you will be told.${note}`,
        previous: null,
      };
    case 'corrected':
      return {
        subject: `CORRECTED — STILL EMBARGOED UNTIL ${until}: ${title}`,
        headline: `CORRECTED — STILL EMBARGOED UNTIL ${until}`,
        terms:
          'This corrected copy replaces the advance copy sent to you earlier; use this one.' +
          (previous ? ` The embargo has also moved: the earlier time, ${previous}, is no longer valid.` : '') +
          ` It is still under embargo: do not publish, broadcast or post it before that time.${note}`,
        previous,
      };
    case 'correction':
      return {
        subject: `CORRECTION: ${title}`,
        headline: `CORRECTION${notice.note ? `: ${stripSlotMarks(notice.note)}` : ''}`,
        terms:
          'This release was corrected after it was published. The corrected text follows and replaces the copy sent to you earlier.',
        previous: null,
      };
  }
}

function banner(content: EmailContent) {
  if (content.notice) {
    const { headline, terms } = noticeWords(content, content.notice, '');
    return { headline, terms, ...NOTICE_COLOURS };
  }
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
    dateline: DateTime.fromJSDate(content.embargoAt, { zone: content.embargoTimeZone })
      .setLocale('en-GB')
      .toFormat('d LLLL yyyy'),
    banner: banner(content),
    // A brief notice carries the title and the change, not the text again.
    brief: content.notice !== undefined && ['moved', 'lifted', 'withdrawn'].includes(content.notice.kind),
    contact,
    attachments: content.attachments.map((a) => ({
      filename: stripSlotMarks(a.filename),
      url: a.url,
      sizeLabel: sizeLabel(a.size),
    })),
    recipient: Object.fromEntries(SLOTS.map((slot) => [slot, slotMark(slot)])),
  };

  // Mustache's own escaping also rewrites "/" and "=", which would garble every URL in the source.
  const mjmlSource = Mustache.render(await template('release.mjml'), { ...view, bodyHtml }, await partials(), {
    escape: escapeHtml,
  });
  compiles += 1;
  const result = await mjml2html(mjmlSource, { validationLevel: 'strict', keepComments: false });
  const text = Mustache.render(
    await template('release.txt'),
    { ...view, bodyText: htmlToText(bodyHtml) },
    {},
    {
      escape: (value: string) => value,
    },
  );
  const subject = content.notice
    ? noticeWords(content, content.notice, view.title).subject
    : content.phase === 'advance'
      ? `${EMBARGO_MARKING}: ${view.title}`
      : view.title;
  return {
    subject,
    html: result.html,
    text: text.replace(/\n{3,}/g, '\n\n').trim() + '\n',
    replyTo: contact.email ? { name: contact.name, address: contact.email } : null,
    embargo: { at: content.embargoAt, timeZone: content.embargoTimeZone },
  };
}
