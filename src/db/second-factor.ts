import { sql } from 'kysely';
import type { Db } from './index.js';

/** Second factors of accounts: the TOTP secret (pending while the person enrols) and recovery codes. */

export async function totpSecrets(db: Db, accountId: number) {
  return db
    .selectFrom('accounts')
    .select(['totp_secret', 'totp_pending_secret', 'totp_last_step'])
    .where('id', '=', accountId)
    .executeTakeFirstOrThrow();
}

/** Keeps a new secret aside until the person proves, with a first code, that their authenticator has it. */
export async function setPendingTotp(db: Db, accountId: number, secret: string): Promise<void> {
  await db.updateTable('accounts').set({ totp_pending_secret: secret }).where('id', '=', accountId).execute();
}

/**
 * Turns the pending secret on, with the step of the code that confirmed it and a fresh set of
 * recovery codes, in one transaction. Conditional on the pending secret being the one confirmed.
 * Every session of the account ends with it: one opened with the password alone (perhaps a
 * stolen one) does not carry on; the caller starts this browser's session again.
 */
export async function enableTotp(
  db: Db,
  accountId: number,
  secret: string,
  step: number,
  codeHashes: string[],
): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const row = await tx
      .updateTable('accounts')
      .set({ totp_secret: secret, totp_pending_secret: null, totp_enabled_at: sql`now()`, totp_last_step: step })
      .where('id', '=', accountId)
      .where('totp_pending_secret', '=', secret)
      .returning('id')
      .executeTakeFirst();
    if (!row) return false;
    await replaceCodes(tx, accountId, codeHashes);
    await tx.deleteFrom('sessions').where('account_id', '=', accountId).execute();
    return true;
  });
}

/** Turns the second factor off and drops its recovery codes. */
export async function disableTotp(db: Db, accountId: number): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const row = await tx
      .updateTable('accounts')
      .set({ totp_secret: null, totp_pending_secret: null, totp_enabled_at: null, totp_last_step: null })
      .where('id', '=', accountId)
      .where('totp_enabled_at', 'is not', null)
      .returning('id')
      .executeTakeFirst();
    await tx.deleteFrom('recovery_codes').where('account_id', '=', accountId).execute();
    return row !== undefined;
  });
}

/**
 * Accepts a code's time step only if it is later than the last one accepted: one UPDATE, so a
 * code seen by a shoulder-surfer, or sent twice at once, works once.
 */
export async function acceptTotpStep(db: Db, accountId: number, step: number): Promise<boolean> {
  const row = await db
    .updateTable('accounts')
    .set({ totp_last_step: step })
    .where('id', '=', accountId)
    .where((eb) => eb.or([eb('totp_last_step', 'is', null), eb('totp_last_step', '<', step)]))
    .returning('id')
    .executeTakeFirst();
  return row !== undefined;
}

async function replaceCodes(db: Db, accountId: number, codeHashes: string[]): Promise<void> {
  await db.deleteFrom('recovery_codes').where('account_id', '=', accountId).execute();
  if (codeHashes.length > 0) {
    await db
      .insertInto('recovery_codes')
      .values(codeHashes.map((code_hash) => ({ account_id: accountId, code_hash })))
      .execute();
  }
}

/** A new set of recovery codes; the old ones stop working. */
export async function replaceRecoveryCodes(db: Db, accountId: number, codeHashes: string[]): Promise<void> {
  await db.transaction().execute((tx) => replaceCodes(tx, accountId, codeHashes));
}

/** Spends a recovery code: true once, false for an unknown or used one. */
export async function useRecoveryCode(db: Db, accountId: number, codeHash: string): Promise<boolean> {
  const row = await db
    .updateTable('recovery_codes')
    .set({ used_at: sql`now()` })
    .where('account_id', '=', accountId)
    .where('code_hash', '=', codeHash)
    .where('used_at', 'is', null)
    .returning('account_id')
    .executeTakeFirst();
  return row !== undefined;
}

export async function unusedRecoveryCodes(db: Db, accountId: number): Promise<number> {
  const row = await db
    .selectFrom('recovery_codes')
    .select((eb) => eb.fn.countAll<number>().as('n'))
    .where('account_id', '=', accountId)
    .where('used_at', 'is', null)
    .executeTakeFirstOrThrow();
  return Number(row.n);
}
