import type { Keyring } from '../signing.js';
import { randomToken } from '../signing.js';

/**
 * The one-time link that lets the first admin choose a password. It is signed and expires; it is
 * single-use because redeeming it creates the first account, and it is accepted only while no
 * account exists.
 */
const PURPOSE = 'presslift-setup';
export const SETUP_LINK_HOURS = 24;

export function createSetupToken(keys: Keyring, now = Date.now()): string {
  return keys.sealUntil(PURPOSE, randomToken(9), new Date(now + SETUP_LINK_HOURS * 3_600_000));
}

/** Why a setup token is refused, or null when it is good. */
export function checkSetupToken(keys: Keyring, token: string, now = Date.now()): 'invalid' | 'expired' | null {
  const opened = keys.openUntil(PURPOSE, token, now);
  if (opened === 'expired') return 'expired';
  return opened ? null : 'invalid';
}
