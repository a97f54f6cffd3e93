import type { Keyring } from '../signing.js';

/**
 * A recipient's own key to the files of their advance copy: the delivery's id sealed by the
 * Keyring. It names one copy, so a use of it says whose copy a file came from; it reveals nothing
 * of any other recipient or of the list, and cannot be made for another delivery without the key.
 */
const PURPOSE = 'file-key';
const LENGTH = 22;

export function fileKey(keys: Keyring, deliveryId: number): string {
  return keys.seal(PURPOSE, String(deliveryId), LENGTH);
}

/** The delivery a file key was made for, or null when it is not one of ours. */
export function openFileKey(keys: Keyring, key: string): number | null {
  const payload = keys.open(PURPOSE, key, LENGTH);
  return payload !== null && /^\d{1,15}$/.test(payload) ? Number(payload) : null;
}
