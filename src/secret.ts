import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import type { Config } from './config';
import type { Db } from './db';

/**
 * The key that signs unsubscribe links. SECRET_KEY wins; otherwise one random key is created on
 * first start and kept in PostgreSQL, so every process of one installation signs alike.
 */
export async function loadSecret(db: Db, config: Config): Promise<string> {
  if (config.SECRET_KEY) return config.SECRET_KEY;
  const fresh = randomBytes(32).toString('base64url');
  await sql`INSERT INTO settings (key, value) VALUES ('secret_key', ${JSON.stringify(fresh)}::jsonb)
            ON CONFLICT (key) DO NOTHING`.execute(db);
  const row = await db.selectFrom('settings').select('value').where('key', '=', 'secret_key').executeTakeFirstOrThrow();
  return row.value as string;
}
