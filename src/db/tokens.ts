import { randomToken, secretHash as hash } from '../signing.js';
import { sql } from 'kysely';
import type { Db } from './index.js';
import type { Role } from '../states.js';

export interface NewApiToken {
  name: string;
  role: Role;
  /** The account whose authority creates it (null from the shell); disabling that account revokes it. */
  ownerAccountId: number | null;
  /** How the audit log names the creator. */
  createdBy: string;
  expiresAt?: Date | null;
  /** The token printed at first start, which dies once a console admin exists. */
  bootstrap?: boolean;
}

/** Creates an API token; the plain token is returned once and only its hash is stored. */
export async function createApiToken(db: Db, input: NewApiToken): Promise<{ id: number; token: string }> {
  const token = `pl_${randomToken(24)}`;
  const row = await db
    .insertInto('api_tokens')
    .values({
      name: input.name,
      role: input.role,
      token_hash: hash(token),
      owner_account_id: input.ownerAccountId,
      created_by: input.createdBy,
      expires_at: input.expiresAt ?? null,
      bootstrap: input.bootstrap ?? false,
    })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, token };
}

/**
 * The live token a bearer presents, noting that it was used. Live means not revoked, not expired,
 * and, for the first-start token, no active admin account yet (revokeBootstrapTokens retires it
 * for good as soon as one is created).
 */
export async function findApiToken(db: Db, token: string) {
  const row = await db
    .updateTable('api_tokens')
    .set({ last_used_at: sql`now()` })
    .where('token_hash', '=', hash(token))
    .where('revoked_at', 'is', null)
    .where((eb) => eb.or([eb('expires_at', 'is', null), eb('expires_at', '>', sql<Date>`now()`)]))
    .where((eb) =>
      eb.or([
        eb('bootstrap', '=', false),
        eb.not(
          eb.exists(
            eb.selectFrom('accounts').select('id').where('role', '=', 'admin').where('disabled_at', 'is', null),
          ),
        ),
      ]),
    )
    .returning(['id', 'name', 'role', 'owner_account_id'])
    .executeTakeFirst();
  return row ? { id: row.id, name: row.name, role: row.role, ownerAccountId: row.owner_account_id } : null;
}

export async function revokeApiToken(db: Db, id: number): Promise<boolean> {
  const result = await db
    .updateTable('api_tokens')
    .set({ revoked_at: sql`now()` })
    .where('id', '=', id)
    .where('revoked_at', 'is', null)
    .executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function hasAnyCredential(db: Db): Promise<boolean> {
  const row = await db.selectFrom('api_tokens').select('id').limit(1).executeTakeFirst();
  return row !== undefined;
}

export interface TokenSummary {
  id: number;
  name: string;
  role: Role;
  owner: string | null;
  createdBy: string;
  createdAt: Date;
  expiresAt: Date | null;
  lastUsedAt: Date | null;
  revokedAt: Date | null;
  bootstrap: boolean;
}

/** Every token, live ones first, with the address of its owner. */
export async function listApiTokens(db: Db): Promise<TokenSummary[]> {
  const rows = await db
    .selectFrom('api_tokens as t')
    .leftJoin('accounts as a', 'a.id', 't.owner_account_id')
    .select([
      't.id',
      't.name',
      't.role',
      'a.email',
      't.created_by',
      't.created_at',
      't.expires_at',
      't.last_used_at',
      't.revoked_at',
      't.bootstrap',
    ])
    .orderBy(sql`t.revoked_at IS NOT NULL`)
    .orderBy('t.id')
    .execute();
  return rows.map((r) => ({
    id: r.id,
    name: r.name,
    role: r.role,
    owner: r.email,
    createdBy: r.created_by,
    createdAt: r.created_at,
    expiresAt: r.expires_at,
    lastUsedAt: r.last_used_at,
    revokedAt: r.revoked_at,
    bootstrap: r.bootstrap,
  }));
}
