import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from './index.js';

const GENERATED_KEY = 'secret_key';

/**
 * The installation's generated signing key, created on first use. Insert-if-absent and then read,
 * so processes starting together all end up with the one key the first of them stored.
 */
export async function generatedSigningKey(db: Db): Promise<string> {
  await sql`INSERT INTO settings (key, value) VALUES (${GENERATED_KEY}, ${JSON.stringify(randomBytes(32).toString('base64url'))}::jsonb)
            ON CONFLICT (key) DO NOTHING`.execute(db);
  return (await storedSigningKey(db))!;
}

/** The generated key, if one was ever created (it keeps verifying after SECRET_KEY is set). */
export async function storedSigningKey(db: Db): Promise<string | null> {
  const row = await db.selectFrom('settings').select('value').where('key', '=', GENERATED_KEY).executeTakeFirst();
  return (row?.value as string | undefined) ?? null;
}

/** Forgets the generated key, so the links it signed stop working (`presslift secret retire-generated`). */
export async function retireGeneratedKey(db: Db): Promise<boolean> {
  const result = await db.deleteFrom('settings').where('key', '=', GENERATED_KEY).executeTakeFirst();
  return result.numDeletedRows > 0n;
}
