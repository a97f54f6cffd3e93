/**
 * Subscriber search at 100,000 subscribers: the first page, a deep page by keyset (the API's
 * cursor) against the same depth by OFFSET (the baseline a naive page would use), and substring
 * searches served by the trigram index. Prints milliseconds (median of 15 runs) and ratios.
 *
 *   npx tsx scripts/bench-people.ts [count]
 */
import { randomBytes } from 'node:crypto';
import { sql } from 'kysely';
import pg from 'pg';
import { createDb, dropDatabase } from '../src/db/index.js';
import { migrateToLatest } from '../src/db/migrate.js';
import { searchSubscribers } from '../src/db/people.js';

const count = Number(process.argv[2] ?? 100_000);
const base = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
const url = new URL(base);
url.pathname = `/presslift_bench_people_${randomBytes(3).toString('hex')}`;

const admin = new pg.Client({ connectionString: base.toString() });
await admin.connect();
await admin.query(`CREATE DATABASE "${url.pathname.slice(1)}"`);
await admin.end();
const db = createDb(url.toString(), 2);
try {
  await migrateToLatest(db);
  await sql`INSERT INTO lists (name, slug) VALUES ('All', 'all')`.execute(db);
  await sql`INSERT INTO subscribers (email, name, outlet)
            SELECT 'reporter' || i || '@outlet' || (i % 500) || '.example', 'Reporter ' || i, 'Outlet ' || (i % 500) FROM generate_series(1, ${count}) i`.execute(
    db,
  );
  await sql`INSERT INTO list_members (list_id, subscriber_id) SELECT 1, id FROM subscribers`.execute(db);
  await sql`ANALYZE`.execute(db);
  const deepId = Number(
    (await sql<{ id: number }>`SELECT id FROM subscribers ORDER BY id OFFSET ${count - 1000} LIMIT 1`.execute(db))
      .rows[0]!.id,
  );

  const median = async (run: () => Promise<unknown>) => {
    const times: number[] = [];
    for (let i = 0; i < 15; i++) {
      const start = performance.now();
      await run();
      times.push(performance.now() - start);
    }
    return times.sort((a, b) => a - b)[7]!;
  };
  const page =
    (query: string, after: number, listId: number | null = null) =>
    () =>
      searchSubscribers(db, { query, listId, after, limit: 50 });
  const results = {
    firstPage: await median(page('', 0)),
    deepPageKeyset: await median(page('', deepId)),
    deepPageOffsetBaseline: await median(() =>
      sql`SELECT id, email, name, outlet FROM subscribers ORDER BY id OFFSET ${count - 1000} LIMIT 51`.execute(db),
    ),
    deepPageOnList: await median(page('', deepId, 1)),
    substringRare: await median(page('reporter99999@', 0)),
    substringOutlet: await median(page('outlet 417', 0)),
    noMatch: await median(page('nobody-by-this-name', 0)),
  };
  console.log(`subscribers: ${count}`);
  for (const [name, ms] of Object.entries(results)) console.log(`${name.padEnd(24)} ${ms.toFixed(2)} ms`);
  console.log(`deep page, OFFSET / keyset: ${(results.deepPageOffsetBaseline / results.deepPageKeyset).toFixed(1)}x`);
} finally {
  await db.destroy();
  await dropDatabase(url.toString());
}
