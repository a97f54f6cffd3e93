import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import type { Database } from './schema.js';

export type Db = Kysely<Database>;

// bigint identities and count(*) arrive as strings by default; ours stay far below 2^53.
pg.types.setTypeParser(pg.types.builtins.INT8, (value) => Number(value));

/** Connections a process's pool may open. */
export const POOL_SIZE = 10;

export function createDb(databaseUrl: string, poolSize = POOL_SIZE): Db {
  const pool = new pg.Pool({ connectionString: databaseUrl, max: poolSize });
  // An idle client whose server went away emits 'error'; the pool replaces it, so only note it.
  pool.on('error', () => {});
  // A client checked out when the server goes away emits 'error' too, and with no listener that
  // kills the process. Its query is rejected anyway and the pool discards it on release.
  pool.on('connect', (client) => client.on('error', () => {}));
  return new Kysely<Database>({ dialect: new PostgresDialect({ pool }) });
}

export class PoolModeError extends Error {}

/**
 * Presslift needs real transactions (row claims, lifecycle changes, the sweep's leader lock): a
 * PgBouncer in statement mode cannot give them, so a process behind one refuses to start, saying
 * which mode to use. Session and transaction mode both work: Presslift keeps no state in a server
 * session (no LISTEN, no session SET, no session advisory lock, only unnamed prepared statements).
 */
export async function assertTransactionsWork(db: Db): Promise<void> {
  try {
    await db.transaction().execute(async (tx) => {
      await sql`SELECT 1`.execute(tx);
      await sql`SELECT 2`.execute(tx);
    });
  } catch (error) {
    const message = (error as Error).message;
    if (/statement pooling|transaction blocks not allowed/i.test(message)) {
      throw new PoolModeError(
        `DATABASE_URL reaches a PgBouncer in statement pool mode (${message}); Presslift needs transactions: set pool_mode = transaction (or session)`,
      );
    }
    throw error;
  }
}

/** Creates the database named in the URL when it does not exist yet (first start on a fresh machine). */
export async function ensureDatabase(databaseUrl: string): Promise<void> {
  const target = new URL(databaseUrl);
  const name = decodeURIComponent(target.pathname.slice(1));
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    const found = await client.query('SELECT 1 FROM pg_database WHERE datname = $1', [name]);
    if (found.rowCount === 0) {
      await client.query(`CREATE DATABASE ${pg.escapeIdentifier(name)}`).catch((error: { code?: string }) => {
        if (error.code !== '42P04') throw error; // created meanwhile by another process
      });
    }
  } finally {
    await client.end();
  }
}

/** Drops a database; tests use it to clean up their own. */
export async function dropDatabase(databaseUrl: string): Promise<void> {
  const target = new URL(databaseUrl);
  const admin = new URL(databaseUrl);
  admin.pathname = '/postgres';
  const client = new pg.Client({ connectionString: admin.toString() });
  await client.connect();
  try {
    await client.query(
      `DROP DATABASE IF EXISTS ${pg.escapeIdentifier(decodeURIComponent(target.pathname.slice(1)))} WITH (FORCE)`,
    );
  } finally {
    await client.end();
  }
}

/** One round trip: readiness asks whether PostgreSQL answers now. */
export async function pingDatabase(db: Db): Promise<void> {
  await sql`SELECT 1`.execute(db);
}

/** Opens the pool's connections now (each held for 10 ms), so a lift does not open them. */
export async function warmConnections(db: Db): Promise<void> {
  await Promise.all(Array.from({ length: POOL_SIZE }, () => sql`SELECT pg_sleep(0.01)`.execute(db)));
}
