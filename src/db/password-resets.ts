import { randomToken, secretHash as hash } from '../signing.js';
import { sql } from 'kysely';
import type { Db } from './index.js';

/** A reset link's token for an account; only its hash is kept. Earlier links of the account stop working. */
export async function createPasswordReset(db: Db, accountId: number, minutes: number): Promise<string> {
  const token = randomToken();
  await db.transaction().execute(async (tx) => {
    await tx
      .updateTable('password_resets')
      .set({ used_at: sql`now()` })
      .where('account_id', '=', accountId)
      .where('used_at', 'is', null)
      .execute();
    await tx
      .insertInto('password_resets')
      .values({
        token_hash: hash(token),
        account_id: accountId,
        expires_at: sql`now() + make_interval(mins => ${minutes})`,
      })
      .execute();
  });
  return token;
}

/** The active account a live reset link belongs to, without spending it (the form is shown first). */
export async function findPasswordReset(db: Db, token: string): Promise<{ accountId: number; email: string } | null> {
  const row = await db
    .selectFrom('password_resets as r')
    .innerJoin('accounts as a', 'a.id', 'r.account_id')
    .select(['a.id', 'a.email'])
    .where('r.token_hash', '=', hash(token))
    .where('r.used_at', 'is', null)
    .where('r.expires_at', '>', sql<Date>`now()`)
    .where('a.disabled_at', 'is', null)
    .executeTakeFirst();
  return row ? { accountId: row.id, email: row.email } : null;
}

/** Spends a reset link: one conditional UPDATE, so two submissions cannot both use it. */
export async function usePasswordReset(db: Db, token: string): Promise<number | null> {
  const row = await db
    .updateTable('password_resets')
    .set({ used_at: sql`now()` })
    .where('token_hash', '=', hash(token))
    .where('used_at', 'is', null)
    .where('expires_at', '>', sql<Date>`now()`)
    .returning('account_id')
    .executeTakeFirst();
  return row?.account_id ?? null;
}
