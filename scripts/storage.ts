/**
 * `npx tsx scripts/storage.ts [--recipients N]`: measures what one recipient of one release costs in
 * PostgreSQL. It seeds its own database with N subscribers and one sent release whose delivery rows
 * look like real ones (a Message-ID, a sent time), measures the table and its indexes
 * (pg_total_relation_size) and an average row (pg_column_size), prints a sizing table for 10, 100
 * and 1,000 releases of 100,000 recipients, and drops the database.
 */
import { randomBytes } from 'node:crypto';
import { parseArgs } from 'node:util';
import { sql } from 'kysely';
import { createDb, dropDatabase } from '../src/db/index.js';
import { keepDeliveryCounts } from '../src/db/retention.js';
import { loadConfig } from '../src/config.js';
import { createLogger } from '../src/log.js';
import { prepareDatabase } from '../src/processes.js';

const { values } = parseArgs({ options: { recipients: { type: 'string', default: '100000' } } });
const recipients = Number(values.recipients);
const base = new URL(process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres');
base.pathname = `/presslift_storage_${randomBytes(4).toString('hex')}`;
const config = loadConfig({ DATABASE_URL: base.toString(), LOG_LEVEL: 'warn' });
await prepareDatabase(config, createLogger('warn'));
const db = createDb(config.DATABASE_URL, 2);

try {
  await sql`INSERT INTO lists (name, slug) VALUES ('Everyone', 'everyone')`.execute(db);
  await sql`INSERT INTO subscribers (email, name) SELECT 'reader' || i || '@newsdesk-example.org', 'Reader ' || i FROM generate_series(1, ${recipients}) i`.execute(
    db,
  );
  await sql`
    INSERT INTO releases (slug, title, body_md, status, embargo_at, embargo_time_zone, created_by, lifted_at, completed_at)
    VALUES ('sizing', 'Sizing', 'x', 'sent', now(), 'UTC', 'storage', now(), now())`.execute(db);
  // Rows as a sent release leaves them: one per recipient, sent, with its Message-ID.
  await sql`
    INSERT INTO deliveries (release_id, subscriber_id, list_id, state, not_before, attempts, message_id, sent_at)
    SELECT 1, s.id, 1, 'sent', now(), 1, '<release-1.delivery-' || s.id || '@presslift.localhost>', now() FROM subscribers s`.execute(
    db,
  );
  await sql`VACUUM ANALYZE deliveries`.execute(db);
  const { rows } = await sql<{ table_bytes: number; index_bytes: number; total_bytes: number; avg_row: number }>`
    SELECT pg_table_size('deliveries')::bigint AS table_bytes, pg_indexes_size('deliveries')::bigint AS index_bytes,
           pg_total_relation_size('deliveries')::bigint AS total_bytes,
           (SELECT avg(pg_column_size(d.*)) FROM deliveries d)::float AS avg_row
    FROM (SELECT 1) x`.execute(db);
  const measured = rows[0]!;
  const perRecipient = measured.total_bytes / recipients;
  await keepDeliveryCounts(db, 1);
  const { rows: kept } = await sql<{
    bytes: number;
  }>`SELECT pg_column_size(delivery_counts) AS bytes FROM releases WHERE id = 1`.execute(db);

  const mb = (bytes: number) => (bytes / 1024 / 1024).toFixed(bytes < 10 * 1024 * 1024 ? 1 : 0);
  const gb = (bytes: number) => (bytes / 1024 ** 3).toFixed(1);
  console.log(
    JSON.stringify({
      recipients,
      avgRowBytes: Math.round(measured.avg_row),
      tableBytes: measured.table_bytes,
      indexBytes: measured.index_bytes,
      totalBytes: measured.total_bytes,
      bytesPerRecipient: Math.round(perRecipient),
      keptCountsBytesPerRelease: kept[0]!.bytes,
    }),
  );
  console.log('\n| releases of 100,000 recipients | deliveries (rows and indexes) | after retention (counts kept) |');
  console.log('|---|---|---|');
  for (const releases of [10, 100, 1000]) {
    const bytes = perRecipient * 100_000 * releases;
    console.log(
      `| ${releases.toLocaleString('en-US')} | ${bytes >= 1024 ** 3 ? `${gb(bytes)} GB` : `${mb(bytes)} MB`} | ${((kept[0]!.bytes * releases) / 1024).toFixed(1)} KB |`,
    );
  }
} finally {
  await db.destroy();
  await dropDatabase(config.DATABASE_URL);
}
