import { Migrator, sql, type Migration, type MigrationProvider } from 'kysely';
import type { Db } from './index.js';
import * as init from './migrations/001_init.js';
import * as lifecycle from './migrations/002_lifecycle.js';
import * as journalists from './migrations/004_journalists.js';
import * as accounts from './migrations/005_accounts.js';
import * as lifecycleEdges from './migrations/006_lifecycle_edges.js';
import * as security from './migrations/007_security.js';
import * as mailLoop from './migrations/008_mail_loop.js';
import * as operations from './migrations/009_operations.js';
import * as changeNotices from './migrations/010_change_notices.js';
import * as selfService from './migrations/011_self_service.js';
import * as listCounts from './migrations/012_staff_side_at_size.js';
import * as membersNewest from './migrations/013_members_newest_first.js';

/**
 * Migrations are listed here, in order, so they work the same from source and from a bundle. Each
 * is numbered by the change that made it and those changes land in any order, so an installation
 * that already has a later number still applies an earlier one that arrives after it
 * (allowUnorderedMigrations); no migration depends on one with a higher number.
 */
const migrations: Record<string, Migration> = {
  '001_init': init,
  '002_lifecycle': lifecycle,
  '004_journalists': journalists,
  '005_accounts': accounts,
  '006_lifecycle_edges': lifecycleEdges,
  '007_security': security,
  '008_mail_loop': mailLoop,
  '009_operations': operations,
  '010_change_notices': changeNotices,
  '011_self_service': selfService,
  '012_staff_side_at_size': listCounts,
  '013_members_newest_first': membersNewest,
};

const provider: MigrationProvider = { getMigrations: async () => migrations };

/**
 * Applies every pending migration, all in one transaction on one connection. Kysely's migrator
 * serialises concurrent starts with a session advisory lock taken outside its transaction; behind
 * PgBouncer in transaction mode that lock and its unlock could land on different server
 * connections and the lock would leak, stalling the next process's start. Inside one explicit
 * transaction the pooler keeps every statement, the lock and the unlock on one server connection.
 */
export async function migrateToLatest(db: Db): Promise<string[]> {
  return db.connection().execute(async (connection) => {
    await sql`BEGIN`.execute(connection);
    try {
      const { error, results } = await new Migrator({
        db: connection,
        provider,
        disableTransactions: true,
        allowUnorderedMigrations: true,
      }).migrateToLatest();
      if (error) throw error;
      await sql`COMMIT`.execute(connection);
      return (results ?? []).filter((r) => r.status === 'Success').map((r) => r.migrationName);
    } catch (error) {
      await sql`ROLLBACK`.execute(connection).catch(() => {});
      throw error;
    }
  });
}

/** True when every migration this build knows has been applied (readiness checks use it). */
export async function migrationsCurrent(db: Db): Promise<boolean> {
  const migrator = new Migrator({ db, provider, allowUnorderedMigrations: true });
  const all = await migrator.getMigrations();
  return all.every((m) => m.executedAt !== undefined);
}
