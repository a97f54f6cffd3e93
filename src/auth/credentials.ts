import { randomBytes } from 'node:crypto';
import type { Db } from '../db';
import { findActiveAccountByEmail } from '../db/accounts';
import { hashPassword, verifyPassword } from './password';

// Checked against when the address is unknown, so that answer takes as long as a wrong password.
const DUMMY_HASH = hashPassword(randomBytes(12).toString('hex'));

/** The active account these credentials open, or null. */
export async function checkCredentials(db: Db, email: string, password: string) {
  const account = await findActiveAccountByEmail(db, email);
  if (!account) {
    await verifyPassword(password, await DUMMY_HASH);
    return null;
  }
  return (await verifyPassword(password, account.password_hash)) ? account : null;
}
