import { createHash } from 'node:crypto';
import { Secret, TOTP } from 'otpauth';
import QRCode from 'qrcode';
import type { Db } from '../db/index.js';
import { acceptTotpStep, totpSecrets, useRecoveryCode } from '../db/second-factor.js';

/** TOTP as RFC 6238 and every authenticator app read it: SHA-1, 6 digits, 30 seconds. */
const PERIOD = 30;
const ISSUER = 'Presslift';
export const RECOVERY_CODE_COUNT = 10;

const totp = (secret: string, email = '') =>
  new TOTP({
    issuer: ISSUER,
    label: email,
    algorithm: 'SHA1',
    digits: 6,
    period: PERIOD,
    secret: Secret.fromBase32(secret),
  });

/** A new random secret (160 bits, base32), as RFC 4226 recommends. */
export const newTotpSecret = () => new Secret({ size: 20 }).base32;

/** What an authenticator app reads: the otpauth:// URI, as a QR code (SVG markup) and as text. */
export async function enrolment(
  secret: string,
  email: string,
): Promise<{ uri: string; qrSvg: string; secret: string }> {
  const uri = totp(secret, email).toString();
  return { uri, qrSvg: await QRCode.toString(uri, { type: 'svg', margin: 1, errorCorrectionLevel: 'M' }), secret };
}

/**
 * The time step a six-digit code belongs to, allowing one step of clock drift either way, or null
 * when it matches none. Spaces typed between the digits are ignored.
 */
export function codeStep(secret: string, code: string, now = Date.now()): number | null {
  const digits = code.replace(/\s+/g, '');
  if (!/^\d{6}$/.test(digits)) return null;
  const delta = totp(secret).validate({ token: digits, timestamp: now, window: 1 });
  return delta === null ? null : Math.floor(now / 1000 / PERIOD) + delta;
}

/** Ten single-use codes of 80 random bits each, written in four groups of base32 for reading aloud. */
export function newRecoveryCodes(): string[] {
  return Array.from({ length: RECOVERY_CODE_COUNT }, () => {
    const text = new Secret({ size: 10 }).base32.toLowerCase();
    return text.match(/.{4}/g)!.join('-');
  });
}

/** Codes are random and long, so a plain SHA-256 is enough; dashes, spaces and case do not matter. */
export const hashRecoveryCode = (code: string) =>
  createHash('sha256')
    .update(code.toLowerCase().replace(/[^a-z2-7]/g, ''))
    .digest('hex');

/**
 * Checks a second factor at sign-in: a current TOTP code (each works once), or an unused recovery
 * code (spent by this). Returns how it was proven, or null.
 */
export async function proveSecondFactor(
  db: Db,
  accountId: number,
  input: string,
): Promise<'code' | 'recovery-code' | null> {
  const { totp_secret: secret } = await totpSecrets(db, accountId);
  if (!secret) return null;
  const step = codeStep(secret, input);
  if (step !== null) return (await acceptTotpStep(db, accountId, step)) ? 'code' : null;
  if (input.replace(/[^a-z2-7]/gi, '').length === 16 && (await useRecoveryCode(db, accountId, hashRecoveryCode(input))))
    return 'recovery-code';
  return null;
}
