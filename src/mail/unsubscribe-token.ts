import { createHmac, timingSafeEqual } from 'node:crypto';

/**
 * An unsubscribe token names (subscriber, list) and carries an HMAC over both, so it can be
 * verified without a session and cannot be forged or enumerated.
 */
export function signUnsubscribeToken(secret: string, subscriberId: number, listId: number): string {
  const payload = `${subscriberId}.${listId}`;
  return `${payload}.${mac(secret, payload)}`;
}

export function verifyUnsubscribeToken(secret: string, token: string): { subscriberId: number; listId: number } | null {
  const match = /^(\d{1,15})\.(\d{1,15})\.([A-Za-z0-9_-]{22})$/.exec(token);
  if (!match) return null;
  const expected = Buffer.from(mac(secret, `${match[1]}.${match[2]}`));
  const given = Buffer.from(match[3]!);
  if (!timingSafeEqual(expected, given)) return null;
  return { subscriberId: Number(match[1]), listId: Number(match[2]) };
}

function mac(secret: string, payload: string): string {
  return createHmac('sha256', secret).update(`unsubscribe:${payload}`).digest('base64url').slice(0, 22);
}
