import type { Transaction } from 'kysely';
import type { Config } from '../config.js';
import { freezeNotices, hasAdvanceHolders, insertChange, revokeFileKeys } from '../db/changes.js';
import type { Database, Release } from '../db/schema.js';
import type { ChangeKind } from '../states.js';
import { compileEmail, type NoticeContent } from '../render/compile.js';
import { organisation } from '../render/organisation.js';
import { emailContent } from './renders.js';

type Tx = Transaction<Database>;

/** A change the lifecycle tells holders of, as a transition describes it. */
export interface Notice {
  kind: ChangeKind;
  note?: string | null;
  /** The embargo the holders' copies named, when the change makes it wrong. */
  previousEmbargoAt?: Date | null;
}

export interface Told {
  changeId: number;
  kind: ChangeKind;
  /** Notice rows made now, to be queued once the transaction commits. */
  queuedIds: number[];
  /** Waiting notices of earlier changes this one replaces (coalesced). */
  superseded: number;
  /** Per-recipient file keys revoked (a withdrawal). */
  keysRevoked: number;
}

/**
 * Tells the people who hold a copy of a release about a change to it (invariant 8), inside the
 * lifecycle transaction that made the change, so the change and its notices commit together or
 * not at all. A notice under embargo goes to everyone sent an advance copy (nobody else holds
 * the text); a correction after the lift to everyone sent the release. The notice's email is
 * compiled here, once, from the release as this transaction left it, and stored with the change:
 * every worker sends the same bytes, whatever the release becomes later. Null when nobody holds a
 * copy (no change row then, except a correction, which the newsroom shows).
 */
export async function tellHolders(
  config: Config,
  tx: Tx,
  release: Release,
  actor: string,
  notice: Notice,
): Promise<Told | null> {
  if (notice.kind !== 'correction' && !(await hasAdvanceHolders(tx, release.id))) return null;
  const org = organisation(config);
  const phase = notice.kind === 'correction' ? 'lift' : 'advance';
  const content: NoticeContent = {
    kind: notice.kind,
    note: notice.note ?? null,
    previousEmbargoAt: notice.previousEmbargoAt ?? null,
    ...(notice.kind === 'lifted' && { liftedAt: release.send_at }),
  };
  const compiled = await compileEmail({ ...(await emailContent(tx, release, org, phase)), notice: content }, org);
  const change = await insertChange(tx, release, {
    kind: notice.kind,
    actor,
    note: notice.note ?? null,
    previousEmbargoAt: notice.previousEmbargoAt ?? null,
    compiled,
  });
  const { queuedIds, superseded } = await freezeNotices(tx, change);
  const keysRevoked = notice.kind === 'withdrawn' ? await revokeFileKeys(tx, release.id) : 0;
  return { changeId: change.id, kind: notice.kind, queuedIds, superseded, keysRevoked };
}
