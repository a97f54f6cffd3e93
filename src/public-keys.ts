/**
 * Keys anyone can read: each appeared in Presslift's repository (the compose file's old default,
 * scripts, tests) or its README. A key from this list lets anyone forge unsubscribe links and the
 * setup link, so the configuration refuses it (tests/unit/public-keys.test.ts checks that every
 * key written in the repository is refused).
 */
export const PUBLIC_KEYS: readonly string[] = [
  // docker-compose.yml's default until SECRET_KEY became required there.
  'change-me-to-a-long-random-string-of-32-chars',
  // scripts/spam-score.ts and tests/integration/journalist-mail.test.ts, before they drew random keys.
  'spam-score-secret-spam-score-secret',
  'another-secret-another-secret-0000',
];

/** True when the key is public, compared after trimming, whatever its case. */
export function isPublicKey(key: string): boolean {
  const normalised = key.trim().toLowerCase();
  return PUBLIC_KEYS.some((known) => known.toLowerCase() === normalised);
}
