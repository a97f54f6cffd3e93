import type { Db } from './index.js';
import type { Phase } from '../states.js';

export interface StoredRender {
  subject: string;
  html: string;
  text: string;
  replyTo: { name: string; address: string } | null;
}

/** The compiled email of one release version and phase, as the first worker stored it. */
export async function findRender(
  db: Db,
  releaseId: number,
  version: number,
  phase: Phase,
): Promise<StoredRender | null> {
  const stored = await db
    .selectFrom('release_renders')
    .select(['subject', 'html', 'text', 'reply_to_name', 'reply_to_address'])
    .where('release_id', '=', releaseId)
    .where('version', '=', version)
    .where('phase', '=', phase)
    .executeTakeFirst();
  if (!stored) return null;
  const { reply_to_name, reply_to_address, ...parts } = stored;
  return { ...parts, replyTo: reply_to_address ? { name: reply_to_name ?? '', address: reply_to_address } : null };
}

/**
 * Keeps the first compile of a version: two workers compiling at once store one row, and both
 * results are the same email, so the loser's copy is simply not kept.
 */
export async function storeRender(
  db: Db,
  releaseId: number,
  version: number,
  phase: Phase,
  render: StoredRender,
): Promise<void> {
  const { replyTo, ...parts } = render;
  await db
    .insertInto('release_renders')
    .values({
      release_id: releaseId,
      version,
      phase,
      ...parts,
      reply_to_name: replyTo?.name ?? null,
      reply_to_address: replyTo?.address ?? null,
    })
    .onConflict((oc) => oc.columns(['release_id', 'version', 'phase']).doNothing())
    .execute();
}
