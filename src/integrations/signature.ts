import { hmacHex, randomToken, sameSecret } from '../signing.js';

/**
 * The header every integration webhook carries: `t=<unix seconds>,v1=<hex HMAC-SHA256 of "t.body">`, as Stripe signs.
 */
export const SIGNATURE_HEADER = 'Presslift-Signature';

/** A new endpoint's signing secret, shown to the admin once. */
export function newWebhookSecret(): string {
  return `whsec_${randomToken(24)}`;
}

/**
 * Signs the exact body with a timestamp: the receiver recomputes the HMAC over `t.body` with the
 * shared secret, compares in constant time, and refuses an old `t`, so a captured request cannot be replayed later.
 */
export function signWebhook(secret: string, body: string, timestampSeconds: number): string {
  return `t=${timestampSeconds},v1=${hmacHex(secret, `${timestampSeconds}.${body}`)}`;
}

/**
 * What a receiver does (and the tests do): true when the header signs this body and is at most `toleranceSeconds` old.
 */
export function verifyWebhook(
  secret: string,
  header: string,
  body: string,
  nowSeconds: number,
  toleranceSeconds = 300,
): boolean {
  const parts = Object.fromEntries(header.split(',').map((part) => part.split('=', 2) as [string, string]));
  const timestamp = Number(parts.t);
  if (!Number.isInteger(timestamp) || Math.abs(nowSeconds - timestamp) > toleranceSeconds || !parts.v1) return false;
  return sameSecret(parts.v1.toLowerCase(), hmacHex(secret, `${timestamp}.${body}`));
}
