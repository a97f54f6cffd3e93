import { randomToken, secretHash as hash } from '../signing.js';
import { sql } from 'kysely';
import type { Db } from './index.js';
import type { SessionStage } from './schema.js';
import type { Role } from '../states.js';

export interface Session {
  accountId: number;
  email: string;
  role: Role;
  csrfToken: string;
  expiresAt: Date;
  stage: SessionStage;
  /** Whether the account has a second factor turned on. */
  twoFactor: boolean;
}

/**
 * Starts a session; the cookie value is returned once and only its hash is stored. An active
 * session notes the sign-in on the account; a pending one (second factor owed) does not.
 */
export async function createSession(
  db: Db,
  accountId: number,
  minutes: number,
  stage: SessionStage = 'active',
): Promise<{ token: string; csrfToken: string; expiresAt: Date }> {
  const token = randomToken();
  const csrfToken = randomToken();
  const row = await sql<{ expires_at: Date }>`
    WITH started AS (
      INSERT INTO sessions (token_hash, account_id, csrf_token, expires_at, stage)
      VALUES (${hash(token)}, ${accountId}, ${csrfToken}, now() + make_interval(mins => ${minutes}), ${stage})
      RETURNING expires_at
    ), noted AS (
      UPDATE accounts SET last_login_at = now() WHERE id = ${accountId} AND ${stage} = 'active'
    )
    SELECT expires_at FROM started`.execute(db);
  return { token, csrfToken, expiresAt: row.rows[0]!.expires_at };
}

/** The unexpired session a cookie names, of an account that is not disabled, at whatever stage. */
export async function findSession(db: Db, token: string): Promise<Session | null> {
  const row = await db
    .selectFrom('sessions as s')
    .innerJoin('accounts as a', 'a.id', 's.account_id')
    .select(['a.id', 'a.email', 'a.role', 'a.totp_enabled_at', 's.csrf_token', 's.expires_at', 's.stage'])
    .where('s.token_hash', '=', hash(token))
    .where('s.expires_at', '>', sql<Date>`now()`)
    .where('a.disabled_at', 'is', null)
    .executeTakeFirst();
  return row
    ? {
        accountId: row.id,
        email: row.email,
        role: row.role,
        csrfToken: row.csrf_token,
        expiresAt: row.expires_at,
        stage: row.stage,
        twoFactor: row.totp_enabled_at !== null,
      }
    : null;
}

export async function endSession(db: Db, token: string): Promise<void> {
  // Expired sessions of anyone are swept on the way: sign-outs are frequent enough to keep the table small.
  await sql`DELETE FROM sessions WHERE token_hash = ${hash(token)} OR expires_at < now()`.execute(db);
}

/** Signs an account out everywhere: every session of it, in every browser, ends now. */
export async function endAccountSessions(db: Db, accountId: number): Promise<number> {
  const result = await db.deleteFrom('sessions').where('account_id', '=', accountId).executeTakeFirst();
  return Number(result.numDeletedRows);
}
