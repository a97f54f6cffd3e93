import type { Keyring } from '../signing.js';

/**
 * An unsubscribe token names (subscriber, list) and carries a signature over both, so it can be
 * verified without a session and cannot be forged or enumerated. It never expires: RFC 8058 and
 * the law want the link in an old email to keep working.
 */
const PURPOSE = 'unsubscribe';
/** 22 base64url characters (132 bits) keep the link short; links already sent use this length. */
const MAC_LENGTH = 22;

export function signUnsubscribeToken(keys: Keyring, subscriberId: number, listId: number): string {
  return keys.seal(PURPOSE, `${subscriberId}.${listId}`, MAC_LENGTH);
}

export function verifyUnsubscribeToken(keys: Keyring, token: string): { subscriberId: number; listId: number } | null {
  const match = /^(\d{1,15})\.(\d{1,15})\.[A-Za-z0-9_-]{22}$/.exec(token);
  if (!match || keys.open(PURPOSE, token, MAC_LENGTH) === null) return null;
  return { subscriberId: Number(match[1]), listId: Number(match[2]) };
}
