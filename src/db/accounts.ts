import { sql } from 'kysely';
import type { Db } from './index';
import type { Role } from './schema';

export interface AccountSummary {
  id: number;
  email: string;
  role: Role;
  createdAt: string;
  lastLoginAt: string | null;
  disabled: boolean;
}

export class AccountExistsError extends Error {}

/** Creates an account; the password arrives already hashed. */
export async function createAccount(db: Db, email: string, role: Role, passwordHash: string): Promise<{ id: number }> {
  const row = await sql<{ id: number }>`
    INSERT INTO accounts (email, role, password_hash) VALUES (${email}, ${role}, ${passwordHash})
    ON CONFLICT (email_key) DO NOTHING RETURNING id`.execute(db);
  if (!row.rows[0]) throw new AccountExistsError(`an account for ${email} already exists`);
  return row.rows[0];
}

/**
 * Creates the first admin, and only while there is no account at all. The advisory lock makes two
 * concurrent redemptions of the setup link take turns, so exactly one of them creates an account.
 */
export async function createFirstAdmin(db: Db, email: string, passwordHash: string): Promise<{ id: number } | null> {
  return db.transaction().execute(async (tx) => {
    await sql`SELECT pg_advisory_xact_lock(hashtext('presslift-first-admin'))`.execute(tx);
    if (await tx.selectFrom('accounts').select('id').limit(1).executeTakeFirst()) return null;
    return tx.insertInto('accounts').values({ email, role: 'admin', password_hash: passwordHash }).returning('id').executeTakeFirstOrThrow();
  });
}

export async function hasAnyAccount(db: Db): Promise<boolean> {
  return (await db.selectFrom('accounts').select('id').limit(1).executeTakeFirst()) !== undefined;
}

/** The account a sign-in names, if it may sign in. */
export async function findActiveAccountByEmail(db: Db, email: string) {
  return (
    (await db
      .selectFrom('accounts')
      .select(['id', 'email', 'role', 'password_hash'])
      .where('email_key', '=', email.trim().toLowerCase())
      .where('disabled_at', 'is', null)
      .executeTakeFirst()) ?? null
  );
}

export async function listAccounts(db: Db): Promise<AccountSummary[]> {
  const rows = await db.selectFrom('accounts').selectAll().orderBy('email_key').execute();
  return rows.map((r) => ({
    id: r.id, email: r.email, role: r.role, createdAt: r.created_at.toISOString(),
    lastLoginAt: r.last_login_at?.toISOString() ?? null, disabled: r.disabled_at !== null,
  }));
}

/** Disables an account and ends its sessions at once; returns its address, or null if none was active. */
export async function disableAccount(db: Db, id: number): Promise<string | null> {
  return db.transaction().execute(async (tx) => {
    const row = await tx
      .updateTable('accounts').set({ disabled_at: new Date() })
      .where('id', '=', id).where('disabled_at', 'is', null)
      .returning('email').executeTakeFirst();
    if (row) await tx.deleteFrom('sessions').where('account_id', '=', id).execute();
    return row?.email ?? null;
  });
}
