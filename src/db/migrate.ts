import { Migrator, type Migration, type MigrationProvider } from 'kysely';
import type { Db } from './index';
import * as init from './migrations/001_init';
import * as lifecycle from './migrations/002_lifecycle';
import * as journalists from './migrations/004_journalists';
import * as accounts from './migrations/005_accounts';
import * as security from './migrations/007_security';

/** Migrations are listed here, in order, so they work the same from source and from a bundle. */
const migrations: Record<string, Migration> = {
  '001_init': init,
  '002_lifecycle': lifecycle,
  '004_journalists': journalists,
  '005_accounts': accounts,
  '007_security': security,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

export async function migrateToLatest(db: Db): Promise<string[]> {
  const migrator = new Migrator({ db, provider });
  const { error, results } = await migrator.migrateToLatest();
  if (error) throw error;
  return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
}

/** True when every migration this build knows has been applied (readiness checks use it). */
export async function migrationsCurrent(db: Db): Promise<boolean> {
  const migrator = new Migrator({ db, provider });
  const all = await migrator.getMigrations();
  return all.every((m) => m.executedAt !== undefined);
}
