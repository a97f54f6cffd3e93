import { createHmac, timingSafeEqual } from 'node:crypto';

/** What a list token lets its holder do; a token made for one purpose never verifies for another. */
export type TokenPurpose = 'unsubscribe' | 'resubscribe';

/**
 * A list token names (subscriber, list) and carries an HMAC over both and its purpose, so it can
 * be verified without a session and cannot be forged or enumerated.
 */
export function signUnsubscribeToken(secret: string, subscriberId: number, listId: number, purpose: TokenPurpose = 'unsubscribe'): string {
  const payload = `${subscriberId}.${listId}`;
  return `${payload}.${mac(secret, purpose, payload)}`;
}

export function verifyUnsubscribeToken(
  secret: string, token: string, purpose: TokenPurpose = 'unsubscribe',
): { subscriberId: number; listId: number } | null {
  const match = /^(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{22})$/.exec(token);
  if (!match) return null;
  const expected = Buffer.from(mac(secret, purpose, `${match[1]}.${match[2]}`));
  const given = Buffer.from(match[3]!);
  if (!timingSafeEqual(expected, given)) return null;
  return { subscriberId: Number(match[1]), listId: Number(match[2]) };
}

function mac(secret: string, purpose: TokenPurpose, payload: string): string {
  return createHmac('sha256', secret).update(`${purpose}:${payload}`).digest('base64url').slice(0, 22);
}
