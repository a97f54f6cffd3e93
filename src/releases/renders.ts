import type { Db } from '../db/index.js';
import { attachmentLinks } from '../db/attachments.js';
import type { Release } from '../db/schema.js';
import type { Phase } from '../states.js';
import { findRender, storeRender } from '../db/renders.js';
import { changeEmail } from '../db/changes.js';
import { embargoCalendar } from '../render/calendar.js';
import { compileEmail, FILE_KEY_SLOT, type CompiledEmail, type EmailContent } from '../render/compile.js';
import type { Organisation } from '../render/organisation.js';

type RenderSource = Pick<
  Release,
  | 'id'
  | 'version'
  | 'title'
  | 'summary'
  | 'body_md'
  | 'embargo_at'
  | 'embargo_time_zone'
  | 'contact_name'
  | 'contact_email'
  | 'contact_phone'
>;

/** What the email of a release shows, with the press office filling in what the release leaves out. */
export async function emailContent(
  db: Db,
  release: RenderSource,
  org: Organisation,
  phase: Phase,
): Promise<EmailContent> {
  return {
    title: release.title,
    summary: release.summary,
    bodyMarkdown: release.body_md,
    embargoAt: release.embargo_at,
    embargoTimeZone: release.embargo_time_zone,
    phase,
    contact: {
      name: release.contact_name ?? org.contact.name,
      email: release.contact_email ?? org.contact.email,
      phone: release.contact_phone ?? org.contact.phone,
    },
    attachments: await attachmentLinks(db, release.id, org.publicUrl, phase === 'advance' ? FILE_KEY_SLOT : undefined),
  };
}

/**
 * The compiled email of a release version and phase, compiled by MJML once for every worker: the
 * first caller stores it in PostgreSQL, later callers (any process) read it back.
 */
/**
 * What every copy of a release version shares besides its compiled parts: the embargo, for each
 * recipient's own embargo line, and for an advance copy the calendar entry of the lift.
 */
function sharedParts(
  release: RenderSource,
  org: Organisation,
  phase: Phase,
): Pick<CompiledEmail, 'embargo' | 'calendar'> {
  const embargo = { at: release.embargo_at, timeZone: release.embargo_time_zone };
  if (phase !== 'advance') return { embargo };
  const calendar = embargoCalendar({
    releaseId: release.id,
    version: release.version,
    title: release.title,
    embargoAt: release.embargo_at,
    domain: new URL(org.publicUrl).hostname,
  });
  return { embargo, calendar };
}

export async function compiledRelease(
  db: Db,
  release: RenderSource,
  org: Organisation,
  phase: Phase = 'lift',
): Promise<CompiledEmail> {
  const stored = await findRender(db, release.id, release.version, phase);
  if (stored) return { ...stored, ...sharedParts(release, org, phase) };
  const compiled = await compileEmail(await emailContent(db, release, org, phase), org);
  // The embargo and the calendar are the release's, not the compile's: only the compiled parts are stored.
  const { embargo: _embargo, calendar: _calendar, ...parts } = compiled;
  await storeRender(db, release.id, release.version, phase, parts);
  return { ...compiled, ...sharedParts(release, org, phase) };
}

const renderKey = (releaseId: number, version: number, phase: Phase) => `${releaseId}:${version}:${phase}`;

/** An in-process cache in front of compiledRelease, keyed by release version and phase. */
export class RenderCache {
  private readonly entries = new Map<string, Promise<CompiledEmail>>();

  constructor(
    private readonly db: Db,
    private readonly org: Organisation,
  ) {}

  get(release: RenderSource, phase: Phase = 'lift'): Promise<CompiledEmail> {
    const key = renderKey(release.id, release.version, phase);
    let entry = this.entries.get(key);
    if (!entry) {
      entry = compiledRelease(this.db, release, this.org, phase);
      entry.catch(() => this.entries.delete(key));
      this.entries.set(key, entry);
      if (this.entries.size > 50) this.entries.delete(this.entries.keys().next().value!);
    }
    return entry;
  }

  /**
   * The email of a release version and phase: from the cache when it holds it, else `load` reads
   * the release (at its current version, which claimed copies are of).
   */
  async ofVersion(
    releaseId: number,
    version: number,
    phase: Phase,
    load: () => Promise<RenderSource>,
  ): Promise<CompiledEmail> {
    return this.entries.get(renderKey(releaseId, version, phase)) ?? this.get(await load(), phase);
  }

  /**
   * The email of a change's notices or corrections, compiled when the change was made (see src/releases/notices.ts).
   */
  change(changeId: number): Promise<CompiledEmail> {
    const key = `change:${changeId}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = changeEmail(this.db, changeId).then((email) => {
        if (!email) throw new Error(`change ${changeId} has no compiled notice`);
        return email;
      });
      entry.catch(() => this.entries.delete(key));
      this.entries.set(key, entry);
      if (this.entries.size > 50) this.entries.delete(this.entries.keys().next().value!);
    }
    return entry;
  }
}
