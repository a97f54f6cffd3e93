import type { Config } from './config.js';
import type { Db } from './db/index.js';
import { generatedSigningKey, storedSigningKey } from './db/keys.js';
import { Keyring } from './signing.js';

/**
 * The keys that sign and verify links. SECRET_KEY signs when set; otherwise a random key created
 * on first start and kept in PostgreSQL does, so every process of one installation signs alike.
 * SECRET_KEYS_PREVIOUS verify only. Once SECRET_KEY is set, a key generated earlier keeps
 * verifying the links it signed, until `presslift secret retire-generated` forgets it.
 */
export async function loadKeyring(db: Db, config: Config): Promise<Keyring> {
  if (!config.SECRET_KEY) return new Keyring(await generatedSigningKey(db), config.SECRET_KEYS_PREVIOUS);
  const generated = await storedSigningKey(db);
  return new Keyring(config.SECRET_KEY, [...config.SECRET_KEYS_PREVIOUS, ...(generated ? [generated] : [])]);
}
