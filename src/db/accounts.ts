import { sql, type Transaction } from 'kysely';
import type { Db } from './index.js';
import type { Database } from './schema.js';
import type { Role } from '../states.js';

export interface AccountSummary {
  id: number;
  email: string;
  role: Role;
  createdAt: string;
  lastLoginAt: string | null;
  disabled: boolean;
  twoFactor: boolean;
}

export class AccountExistsError extends Error {}

/**
 * The token printed at first start is for setting up; once a console admin exists it is revoked
 * for good, so disabling that admin later cannot bring it back.
 */
async function revokeBootstrapTokens(tx: Transaction<Database>): Promise<void> {
  await tx
    .updateTable('api_tokens')
    .set({ revoked_at: sql`now()` })
    .where('bootstrap', '=', true)
    .where('revoked_at', 'is', null)
    .execute();
}

/** Creates an account; the password arrives already hashed. */
export async function createAccount(db: Db, email: string, role: Role, passwordHash: string): Promise<{ id: number }> {
  return db.transaction().execute(async (tx) => {
    const row = await sql<{ id: number }>`
      INSERT INTO accounts (email, role, password_hash) VALUES (${email}, ${role}, ${passwordHash})
      ON CONFLICT (email_key) DO NOTHING RETURNING id`.execute(tx);
    if (!row.rows[0]) throw new AccountExistsError(`an account for ${email} already exists`);
    if (role === 'admin') await revokeBootstrapTokens(tx);
    return row.rows[0];
  });
}

/**
 * Creates the first admin, and only while there is no account at all. The advisory lock makes two
 * concurrent redemptions of the setup link take turns, so exactly one of them creates an account.
 */
export async function createFirstAdmin(db: Db, email: string, passwordHash: string): Promise<{ id: number } | null> {
  return db.transaction().execute(async (tx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext('presslift-first-admin'))`.execute(tx);
    if (await tx.selectFrom('accounts').select('id').limit(1).executeTakeFirst()) return null;
    const created = await tx
      .insertInto('accounts')
      .values({ email, role: 'admin', password_hash: passwordHash })
      .returning('id')
      .executeTakeFirstOrThrow();
    await revokeBootstrapTokens(tx);
    return created;
  });
}

export async function hasAnyAccount(db: Db): Promise<boolean> {
  return (await db.selectFrom('accounts').select('id').limit(1).executeTakeFirst()) !== undefined;
}

const signInColumns = ['id', 'email', 'role', 'password_hash', 'totp_enabled_at'] as const;

/** The account a sign-in names, if it may sign in. */
export async function findActiveAccountByEmail(db: Db, email: string) {
  return (
    (await db
      .selectFrom('accounts')
      .select(signInColumns)
      .where('email_key', '=', email.trim().toLowerCase())
      .where('disabled_at', 'is', null)
      .executeTakeFirst()) ?? null
  );
}

export async function findActiveAccount(db: Db, id: number) {
  return (
    (await db
      .selectFrom('accounts')
      .select(signInColumns)
      .where('id', '=', id)
      .where('disabled_at', 'is', null)
      .executeTakeFirst()) ?? null
  );
}

/** Whether any active account has this address (test copies may go to staff only). */
export async function isStaffAddress(db: Db, email: string): Promise<boolean> {
  const row = await db
    .selectFrom('accounts')
    .select('id')
    .where('email_key', '=', email.trim().toLowerCase())
    .where('disabled_at', 'is', null)
    .executeTakeFirst();
  return row !== undefined;
}

export async function listAccounts(db: Db): Promise<AccountSummary[]> {
  const rows = await db.selectFrom('accounts').selectAll().orderBy('email_key').execute();
  return rows.map((r) => ({
    id: r.id,
    email: r.email,
    role: r.role,
    createdAt: r.created_at.toISOString(),
    lastLoginAt: r.last_login_at?.toISOString() ?? null,
    disabled: r.disabled_at !== null,
    twoFactor: r.totp_enabled_at !== null,
  }));
}

/**
 * Disables an account and, in the same transaction, ends its sessions, revokes the API tokens its
 * authority created and voids its password-reset links. Returns its address, or null if none was active.
 */
export async function disableAccount(db: Db, id: number): Promise<{ email: string; tokensRevoked: number } | null> {
  return db.transaction().execute(async (tx) => {
    const row = await tx
      .updateTable('accounts')
      .set({ disabled_at: sql`now()` })
      .where('id', '=', id)
      .where('disabled_at', 'is', null)
      .returning('email')
      .executeTakeFirst();
    if (!row) return null;
    await tx.deleteFrom('sessions').where('account_id', '=', id).execute();
    await tx
      .updateTable('password_resets')
      .set({ used_at: sql`now()` })
      .where('account_id', '=', id)
      .where('used_at', 'is', null)
      .execute();
    const revoked = await tx
      .updateTable('api_tokens')
      .set({ revoked_at: sql`now()` })
      .where('owner_account_id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return { email: row.email, tokensRevoked: Number(revoked.numUpdatedRows) };
  });
}

/** Lets a disabled account sign in again (its revoked tokens stay revoked). Returns its address, or null. */
export async function enableAccount(db: Db, id: number): Promise<string | null> {
  const row = await db
    .updateTable('accounts')
    .set({ disabled_at: null })
    .where('id', '=', id)
    .where('disabled_at', 'is not', null)
    .returning('email')
    .executeTakeFirst();
  return row?.email ?? null;
}

/**
 * Sets a new password and ends every session of the account and every outstanding reset link,
 * in one transaction: whoever knew the old password (or held a stolen cookie) is out.
 */
export async function changePassword(db: Db, id: number, passwordHash: string): Promise<void> {
  await db.transaction().execute(async (tx) => {
    await tx
      .updateTable('accounts')
      .set({ password_hash: passwordHash, password_changed_at: sql`now()` })
      .where('id', '=', id)
      .execute();
    await tx.deleteFrom('sessions').where('account_id', '=', id).execute();
    await tx
      .updateTable('password_resets')
      .set({ used_at: sql`now()` })
      .where('account_id', '=', id)
      .where('used_at', 'is', null)
      .execute();
  });
}

/**
 * Replaces a hash made with older scrypt parameters by one made with the current ones, after a
 * successful sign-in. Conditional on the old hash, so it never overwrites a password changed meanwhile.
 */
export async function upgradePasswordHash(db: Db, id: number, oldHash: string, newHash: string): Promise<void> {
  await db
    .updateTable('accounts')
    .set({ password_hash: newHash })
    .where('id', '=', id)
    .where('password_hash', '=', oldHash)
    .execute();
}

/** An account by address, disabled or not (the shell's account commands). */
export async function findAccountByEmail(db: Db, email: string) {
  return (
    (await db
      .selectFrom('accounts')
      .select(['id', 'email', 'disabled_at'])
      .where('email_key', '=', email.trim().toLowerCase())
      .executeTakeFirst()) ?? null
  );
}
