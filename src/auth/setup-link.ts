import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * The one-time link that lets the first admin choose a password. It is signed with the
 * installation's secret and expires; it is single-use because redeeming it creates the first
 * account, and it is accepted only while no account exists.
 */
const PURPOSE = 'presslift-setup';
export const SETUP_LINK_HOURS = 24;

const sign = (secret: string, payload: string) => createHmac('sha256', secret).update(`${PURPOSE}.${payload}`).digest('base64url');

export function createSetupToken(secret: string, now = Date.now()): string {
  const payload = `${now + SETUP_LINK_HOURS * 3_600_000}.${randomBytes(9).toString('base64url')}`;
  return `${payload}.${sign(secret, payload)}`;
}

/** Why a setup token is refused, or null when it is good. */
export function checkSetupToken(secret: string, token: string, now = Date.now()): 'invalid' | 'expired' | null {
  const parts = token.split('.');
  if (parts.length !== 3) return 'invalid';
  const payload = `${parts[0]}.${parts[1]}`;
  const given = Buffer.from(parts[2]!);
  const expected = Buffer.from(sign(secret, payload));
  if (given.length !== expected.length || !timingSafeEqual(given, expected)) return 'invalid';
  return Number(parts[0]) < now ? 'expired' : null;
}
