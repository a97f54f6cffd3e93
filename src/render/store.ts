import type { Db } from '../db';
import type { Release } from '../db/schema';
import { compileEmail, type CompiledEmail, type Organisation } from './compile';

type RenderSource = Pick<Release, 'id' | 'version' | 'title' | 'summary' | 'body_md' | 'embargo_at' | 'embargo_time_zone'>;

export function emailContent(release: RenderSource) {
  return {
    title: release.title,
    summary: release.summary,
    bodyMarkdown: release.body_md,
    embargoAt: release.embargo_at,
    embargoTimeZone: release.embargo_time_zone,
    showEmbargoLine: true,
  };
}

/**
 * The compiled email of a release version, compiled by MJML once for every worker: the first
 * caller stores it in PostgreSQL, later callers (any process) read it back.
 */
export async function compiledRelease(db: Db, release: RenderSource, org: Organisation): Promise<CompiledEmail> {
  const stored = await db
    .selectFrom('release_renders')
    .select(['subject', 'html', 'text'])
    .where('release_id', '=', release.id)
    .where('version', '=', release.version)
    .executeTakeFirst();
  if (stored) return stored;
  const compiled = await compileEmail(emailContent(release), org);
  await db
    .insertInto('release_renders')
    .values({ release_id: release.id, version: release.version, ...compiled })
    .onConflict((oc) => oc.columns(['release_id', 'version']).doNothing())
    .execute();
  return compiled;
}

/** An in-process cache in front of compiledRelease, keyed by release version. */
export class RenderCache {
  private readonly entries = new Map<string, Promise<CompiledEmail>>();

  constructor(
    private readonly db: Db,
    private readonly org: Organisation,
  ) {}

  get(release: RenderSource): Promise<CompiledEmail> {
    const key = `${release.id}:${release.version}`;
    let entry = this.entries.get(key);
    if (!entry) {
      entry = compiledRelease(this.db, release, this.org);
      entry.catch(() => this.entries.delete(key));
      this.entries.set(key, entry);
      if (this.entries.size > 50) this.entries.delete(this.entries.keys().next().value!);
    }
    return entry;
  }
}
