import { createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

/**
 * Every HMAC Presslift makes and every secret it compares goes through here: unsubscribe links,
 * the setup link, resubscribe confirmations, the sign-in form's CSRF token, API and metrics
 * tokens, password hashes, integration webhooks, and the providers' webhook credentials.
 *
 * A Keyring signs with one key (SECRET_KEY) and verifies with it and the previous keys listed in
 * SECRET_KEYS_PREVIOUS, so a key can be rotated without breaking the unsubscribe links already in
 * journalists' mailboxes: add the new key, keep the old one listed until its links no longer
 * matter, then remove it.
 *
 * Each signature covers `purpose:payload`, so a token made for one purpose never verifies for another.
 */
export class Keyring {
  private readonly keys: readonly string[];

  constructor(signingKey: string, previousKeys: readonly string[] = []) {
    this.keys = [signingKey, ...previousKeys.filter((key) => key !== signingKey)];
  }

  /** How many keys verify (the signing key and the previous ones). */
  get size(): number {
    return this.keys.length;
  }

  /**
   * The base64url HMAC-SHA256 of payload under the signing key, cut to `length` characters (43 is
   * all of it); in lowercase hex where case may not survive (the local part of a mail address).
   */
  sign(purpose: string, payload: string, length = 43, encoding: Encoding = 'base64url'): string {
    return mac(this.keys[0]!, purpose, payload, length, encoding);
  }

  /** True when `signature` signs payload under the signing key or any previous key. */
  verify(purpose: string, payload: string, signature: string, length = 43, encoding: Encoding = 'base64url'): boolean {
    if (signature.length !== length) return false;
    // Every key is tried, so the time taken does not tell which one matched.
    let matched = false;
    for (const key of this.keys)
      matched = sameSecret(mac(key, purpose, payload, length, encoding), signature) || matched;
    return matched;
  }

  /** `payload.signature`: a token that carries what it names and proves who made it. */
  seal(purpose: string, payload: string, length = 43): string {
    return `${payload}.${this.sign(purpose, payload, length)}`;
  }

  /** The payload of a sealed token, or null when it was not sealed by us for this purpose. */
  open(purpose: string, token: string, length = 43): string | null {
    const cut = token.lastIndexOf('.');
    if (cut < 0) return null;
    const payload = token.slice(0, cut);
    return this.verify(purpose, payload, token.slice(cut + 1), length) ? payload : null;
  }

  /** A sealed token that stops working at `expiresAt`: `expiryMs.payload.signature`. */
  sealUntil(purpose: string, payload: string, expiresAt: Date): string {
    return this.seal(purpose, `${expiresAt.getTime()}.${payload}`);
  }

  /** The payload of a token sealed with sealUntil; 'expired' once its time has passed. */
  openUntil(purpose: string, token: string, now = Date.now()): { payload: string } | 'expired' | null {
    const opened = this.open(purpose, token);
    const match = opened === null ? null : /^(\d{1,15})\.(.*)$/s.exec(opened);
    if (!match) return null;
    return Number(match[1]) <= now ? 'expired' : { payload: match[2]! };
  }
}

type Encoding = 'base64url' | 'hex';

function mac(key: string, purpose: string, payload: string, length: number, encoding: Encoding = 'base64url'): string {
  return createHmac('sha256', key).update(`${purpose}:${payload}`).digest(encoding).slice(0, length);
}

// Both sides are hashed under a key of this process first, so the comparison takes the same time
// whatever their lengths and contents.
const COMPARE_KEY = randomBytes(32);
const digest = (value: string | Buffer) => createHmac('sha256', COMPARE_KEY).update(value).digest();

/** A third party's HMAC-SHA256 (a provider's webhook, our integration webhooks), in lowercase hex. */
export function hmacHex(key: string | Buffer, message: string): string {
  return createHmac('sha256', key).update(message).digest('hex');
}

/** Compares two secrets (tokens, signatures, derived keys) in constant time. */
export function sameSecret(given: string | Buffer | undefined | null, expected: string | Buffer): boolean {
  if (given === undefined || given === null) return false;
  return timingSafeEqual(digest(given), digest(expected));
}

/** How a bearer secret (session, API token, reset link) is stored: its SHA-256, so a database dump opens nothing. */
export const secretHash = (token: string) => createHash('sha256').update(token).digest('hex');

/** A random token for a link or a cookie: 32 bytes, base64url. */
export const randomToken = (bytes = 32) => randomBytes(bytes).toString('base64url');
