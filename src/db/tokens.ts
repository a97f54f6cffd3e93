import { createHash, randomBytes } from 'node:crypto';
import type { Db } from './index';
import type { Role } from './schema';

const hash = (token: string) => createHash('sha256').update(token).digest('hex');

/** Creates an API token; the plain token is returned once and only its hash is stored. */
export async function createApiToken(db: Db, name: string, role: Role): Promise<{ id: number; token: string }> {
  const token = `pl_${randomBytes(24).toString('base64url')}`;
  const row = await db
    .insertInto('api_tokens')
    .values({ name, role, token_hash: hash(token) })
    .returning('id')
    .executeTakeFirstOrThrow();
  return { id: row.id, token };
}

export async function findApiToken(db: Db, token: string) {
  const row = await db
    .updateTable('api_tokens')
    .set({ last_used_at: new Date() })
    .where('token_hash', '=', hash(token))
    .where('revoked_at', 'is', null)
    .returning(['id', 'name', 'role'])
    .executeTakeFirst();
  return row ?? null;
}

export async function revokeApiToken(db: Db, id: number): Promise<boolean> {
  const result = await db.updateTable('api_tokens').set({ revoked_at: new Date() }).where('id', '=', id).where('revoked_at', 'is', null).executeTakeFirst();
  return result.numUpdatedRows > 0n;
}

export async function hasAnyCredential(db: Db): Promise<boolean> {
  const row = await db.selectFrom('api_tokens').select('id').limit(1).executeTakeFirst();
  return row !== undefined;
}
