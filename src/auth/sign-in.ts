import type { Db } from '../db/index.js';
import { clearHits } from '../db/rate-counters.js';
import { checkCredentials } from './credentials.js';
import { proveSecondFactor } from './second-factor.js';
import { LIMITS, noteFailure, requireRoom, spend } from './throttle.js';

/**
 * The two steps of signing in, each throttled per client address (every attempt) and per account
 * (wrong answers, from anywhere). Both throw ThrottledError when a limit is reached, before the
 * password or code is even checked.
 */
const addressKey = (address: string) => `sign-in:address:${address}`;
const accountKey = (email: string) => `sign-in:account:${email.trim().toLowerCase()}`;

async function guard(db: Db, email: string, address: string): Promise<void> {
  await spend(db, addressKey(address), LIMITS.signInPerAddress);
  await requireRoom(db, accountKey(email), LIMITS.signInFailuresPerAccount);
}

/** Step one: the active account these credentials open, or null (a failure counted against the address given). */
export async function passwordStep(db: Db, email: string, password: string, address: string) {
  await guard(db, email, address);
  const account = await checkCredentials(db, email, password);
  if (!account) await noteFailure(db, accountKey(email), LIMITS.signInFailuresPerAccount);
  return account;
}

/** Step two: a TOTP code or a recovery code of the account; null (and a failure counted) when it is neither. */
export async function secondFactorStep(
  db: Db,
  account: { accountId: number; email: string },
  code: string,
  address: string,
) {
  await guard(db, account.email, address);
  const proven = await proveSecondFactor(db, account.accountId, code);
  if (!proven) await noteFailure(db, accountKey(account.email), LIMITS.signInFailuresPerAccount);
  return proven;
}

/** A full sign-in forgives the account's earlier wrong answers. */
export async function signedIn(db: Db, email: string): Promise<void> {
  await clearHits(db, accountKey(email));
}
