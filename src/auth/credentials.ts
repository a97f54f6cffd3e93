import { randomBytes } from 'node:crypto';
import type { Db } from '../db/index.js';
import { findActiveAccountByEmail, upgradePasswordHash } from '../db/accounts.js';
import { hashPassword, needsRehash, verifyPassword } from './password.js';

// Checked against when the address is unknown, so that answer takes as long as a wrong password.
let dummyHash: Promise<string> | undefined;

/**
 * The active account these credentials open, or null. A hash made with older scrypt parameters is
 * replaced by one with today's, now that the password is in hand.
 */
export async function checkCredentials(db: Db, email: string, password: string) {
  const account = await findActiveAccountByEmail(db, email);
  if (!account) {
    dummyHash ??= hashPassword(randomBytes(12).toString('hex'));
    await verifyPassword(password, await dummyHash);
    return null;
  }
  if (!(await verifyPassword(password, account.password_hash))) return null;
  if (needsRehash(account.password_hash))
    await upgradePasswordHash(db, account.id, account.password_hash, await hashPassword(password));
  return account;
}
