import type { Keyring } from '../signing.js';

/**
 * VERP: each message's envelope sender names its delivery, so a bounce that comes back to it says
 * which message failed without reading the (often mangled) bounce text. The address is signed, so
 * nobody can bounce a delivery they did not receive: `bounces+<delivery>-<signature>@<domain>`.
 * The signature is lowercase hex, since some mail systems fold the case of local parts; a key
 * rotated out (SECRET_KEYS_PREVIOUS) still verifies the bounces of mail it signed.
 */
const PURPOSE = 'verp';
const SIGNATURE_LENGTH = 16;

export function verpAddress(keys: Keyring, deliveryId: number, domain: string): string {
  return `bounces+${deliveryId}-${keys.sign(PURPOSE, String(deliveryId), SIGNATURE_LENGTH, 'hex')}@${domain}`;
}

/** The delivery a bounce address names, or null when it is not one of ours or its signature is wrong. */
export function verpDelivery(keys: Keyring, address: string, domain: string): number | null {
  const match = /^bounces\+(\d{1,15})-([0-9a-f]{16})@(.+)$/.exec(address.trim().toLowerCase());
  if (!match || match[3] !== domain.toLowerCase()) return null;
  return keys.verify(PURPOSE, match[1]!, match[2]!, SIGNATURE_LENGTH, 'hex') ? Number(match[1]) : null;
}
