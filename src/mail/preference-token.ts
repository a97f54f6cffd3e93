import type { Keyring } from '../signing.js';

/**
 * The preference page's link, in every email: it names the subscriber and is signed, so it needs no
 * password and cannot be forged or enumerated. Like the unsubscribe link, it does not expire (an old
 * email must still let its reader leave or change their settings); it signs only the subscriber id,
 * and the page shows nothing beyond the person's own settings.
 */
const PURPOSE = 'preferences';
const MAC_LENGTH = 22;

export function signPreferenceToken(keys: Keyring, subscriberId: number): string {
  return keys.seal(PURPOSE, String(subscriberId), MAC_LENGTH);
}

export function verifyPreferenceToken(keys: Keyring, token: string): number | null {
  const match = /^(\d{1,15})\.[A-Za-z0-9_-]{22}$/.exec(token);
  if (!match || keys.open(PURPOSE, token, MAC_LENGTH) === null) return null;
  return Number(match[1]);
}
