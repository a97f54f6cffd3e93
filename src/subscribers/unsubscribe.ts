import type { Db } from '../db/index.js';
import { recordAudit } from '../db/audit.js';
import { findMembership, unsubscribe, type Membership } from '../db/subscribers.js';
import { verifyUnsubscribeToken } from '../mail/unsubscribe-token.js';
import type { Keyring } from '../signing.js';

export interface Unsubscribed {
  subscriberId: number;
  listId: number;
  membership: Membership;
  /** False when the membership had already ended (a second click, the same mail twice). */
  changed: boolean;
}

/**
 * The one way a journalist leaves a list by their signed token, whether they clicked the one-click
 * link (RFC 8058) or mailed the List-Unsubscribe mailto. The token is the only authority; null
 * when it is forged or names no membership. Audited once, when the membership actually ends.
 */
export async function unsubscribeByToken(
  db: Db,
  keys: Keyring,
  token: string,
  via: 'link' | 'mail',
): Promise<Unsubscribed | null> {
  const names = verifyUnsubscribeToken(keys, token);
  const membership = names && (await findMembership(db, names.subscriberId, names.listId));
  if (!names || !membership) return null;
  const changed = await unsubscribe(db, names.subscriberId, names.listId);
  if (changed) {
    await recordAudit(db, {
      releaseId: null,
      actor: `subscriber:${names.subscriberId}`,
      action: 'unsubscribe',
      details: { listId: names.listId, via },
    });
  }
  return { ...names, membership: { ...membership, status: 'unsubscribed' }, changed };
}
