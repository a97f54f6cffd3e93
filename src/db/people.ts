import { createHash } from 'node:crypto';
import { sql } from 'kysely';
import type { Db } from './index.js';

/**
 * Staff's view of people: search with keyset pagination, export of everything held on one person,
 * and erasure.
 */

export interface SubscriberRow {
  id: number;
  email: string;
  name: string | null;
  outlet: string | null;
  createdAt: Date;
}

export interface SearchInput {
  query: string;
  listId: number | null;
  /** The last id of the previous page (keyset): the next page starts after it. */
  after: number;
  limit: number;
}

const likeEscape = (value: string) => value.replace(/[\\%_]/g, (c) => `\\${c}`);

/**
 * One page of subscribers matching a substring of address, name or outlet, optionally on one list,
 * in id order. The match is on the same expression as the trigram index subscribers_search, so
 * PostgreSQL can answer it from the index at 100,000 rows; the page starts after the cursor's id
 * (keyset), so a deep page costs what the first does. One row more than asked says whether there is
 * a next page.
 */
export async function searchSubscribers(
  db: Db,
  input: SearchInput,
): Promise<{ items: SubscriberRow[]; nextCursor: number | null }> {
  const pattern = `%${likeEscape(input.query.toLowerCase())}%`;
  // Only the conditions asked for are in the statement: an "(x IS NULL OR …)" form would hide from
  // the planner which index to use. The list filter is a join on the membership's primary key.
  const onList =
    input.listId === null ? sql`` : sql`JOIN list_members m ON m.subscriber_id = s.id AND m.list_id = ${input.listId}`;
  const matching =
    input.query === ''
      ? sql``
      : sql`AND (s.email_key || ' ' || lower(coalesce(s.name, '')) || ' ' || lower(coalesce(s.outlet, ''))) LIKE ${pattern}`;
  const { rows } = await sql<{
    id: number;
    email: string;
    name: string | null;
    outlet: string | null;
    created_at: Date;
  }>`
    SELECT s.id, s.email, s.name, s.outlet, s.created_at
    FROM subscribers s ${onList}
    WHERE s.id > ${input.after} ${matching}
    ORDER BY s.id
    LIMIT ${input.limit + 1}`.execute(db);
  const items = rows
    .slice(0, input.limit)
    .map((r) => ({ id: r.id, email: r.email, name: r.name, outlet: r.outlet, createdAt: r.created_at }));
  return { items, nextCursor: rows.length > input.limit ? items[items.length - 1]!.id : null };
}

/** Everything held on one person, for a subject-access request (GDPR art. 15); null when unknown. */
export async function exportSubscriber(db: Db, subscriberId: number) {
  const subscriber = await db.selectFrom('subscribers').selectAll().where('id', '=', subscriberId).executeTakeFirst();
  if (!subscriber) return null;
  const [memberships, consents, signups, accessRequests, bars, deliveries, mailEvents, suppression, accessLog] =
    await Promise.all([
      db
        .selectFrom('list_members as m')
        .innerJoin('lists as l', 'l.id', 'm.list_id')
        .select([
          'l.id as listId',
          'l.name as list',
          'm.status',
          'm.subscribed_at as subscribedAt',
          'm.unsubscribed_at as unsubscribedAt',
        ])
        .where('m.subscriber_id', '=', subscriberId)
        .orderBy('l.id')
        .execute(),
      db
        .selectFrom('consents')
        .select([
          'kind',
          'email',
          'version',
          'text',
          sql<number[]>`list_ids::int[]`.as('listIds'),
          'given_at as givenAt',
          'confirmed_at as confirmedAt',
        ])
        .where('subscriber_id', '=', subscriberId)
        .orderBy('id')
        .execute(),
      db
        .selectFrom('signups')
        .select([
          'id',
          sql<number[]>`list_ids::int[]`.as('listIds'),
          'created_at as createdAt',
          'confirmed_at as confirmedAt',
        ])
        .where('subscriber_id', '=', subscriberId)
        .orderBy('id')
        .execute(),
      db
        .selectFrom('access_requests')
        .select([
          'id',
          'outlet',
          'role',
          'work_email as workEmail',
          'links',
          'terms_version as termsVersion',
          'status',
          'note',
          'created_at as createdAt',
          'decided_at as decidedAt',
        ])
        .where('subscriber_id', '=', subscriberId)
        .orderBy('id')
        .execute(),
      db
        .selectFrom('bars')
        .select(['id', 'reason', 'ends_at as endsAt', 'created_at as createdAt', 'lifted_at as liftedAt'])
        .where('subscriber_id', '=', subscriberId)
        .orderBy('id')
        .execute(),
      db
        .selectFrom('deliveries as d')
        .innerJoin('releases as r', 'r.id', 'd.release_id')
        .select([
          'd.id',
          'd.release_id as releaseId',
          'r.title as release',
          'd.phase',
          'd.state',
          'd.sent_at as sentAt',
          'd.created_at as createdAt',
        ])
        .where('d.subscriber_id', '=', subscriberId)
        .orderBy('d.id')
        .execute(),
      db
        .selectFrom('mail_events')
        .select(['kind', 'source', 'status', 'diagnostic', 'release_id as releaseId', 'at'])
        .where('email_key', '=', subscriber.email_key)
        .orderBy('id')
        .execute(),
      db
        .selectFrom('suppressions')
        .select(['reason', 'source', 'created_at as createdAt'])
        .where('email_key', '=', subscriber.email_key)
        .executeTakeFirst(),
      // The access log: what the person did through their links, and what staff did to their record.
      db
        .selectFrom('audit')
        .select(['at', 'actor', 'action', 'details'])
        .where((eb) =>
          eb.or([
            eb('actor', '=', `subscriber:${subscriberId}`),
            eb(sql`details->>'subscriberId'`, '=', String(subscriberId)),
          ]),
        )
        .orderBy('id')
        .execute(),
    ]);
  return {
    subscriber: {
      id: subscriber.id,
      email: subscriber.email,
      name: subscriber.name,
      outlet: subscriber.outlet,
      timeZone: subscriber.time_zone,
      plainText: subscriber.plain_text,
      pausedUntil: subscriber.paused_until,
      pendingEmail: subscriber.pending_email,
      termsVersion: subscriber.terms_version,
      createdAt: subscriber.created_at,
      updatedAt: subscriber.updated_at,
    },
    memberships,
    consents,
    signups,
    accessRequests,
    bars,
    deliveries,
    mailEvents,
    suppression: suppression ?? null,
    accessLog,
  };
}

/** The tombstone's key: a SHA-256 of the lowercased address (as PostgreSQL's sha256() makes it in queries). */
export const tombstoneHash = (email: string) => createHash('sha256').update(email.toLowerCase(), 'utf8').digest('hex');

const regexEscape = (value: string) => value.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * Erases a person (GDPR art. 17), in one transaction. The subscriber row goes, and with it their
 * memberships, sign-ups, consents, applications and bars; their deliveries stay as anonymous rows
 * (the release's counts are unchanged), their bounces and complaints stay counted under the
 * address's hash, and a tombstone of that hash keeps a suppression in force should the address be
 * added again. Then every text and JSON column of every table is swept for the address (audit
 * details, alert texts, webhook payloads, a relay's reply kept as an error...), so no copy survives
 * anywhere a future change might have put one. The audit records who erased, by ids only.
 */
export async function eraseSubscriber(
  db: Db,
  subscriberId: number,
  actor: string,
): Promise<{ tombstone: string } | null> {
  return db.transaction().execute(async (tx) => {
    const subscriber = await tx
      .selectFrom('subscribers')
      .select(['email', 'email_key', 'pending_email'])
      .where('id', '=', subscriberId)
      .forUpdate()
      .executeTakeFirst();
    if (!subscriber) return null;
    const hash = tombstoneHash(subscriber.email_key);
    const suppressed = Boolean(
      await tx
        .selectFrom('suppressions')
        .select('email_key')
        .where('email_key', '=', subscriber.email_key)
        .executeTakeFirst(),
    );
    await sql`INSERT INTO tombstones (email_hash, suppressed) VALUES (${hash}, ${suppressed})
              ON CONFLICT (email_hash) DO UPDATE SET suppressed = tombstones.suppressed OR EXCLUDED.suppressed, erased_at = now()`.execute(
      tx,
    );
    // A relay's reply may quote the address: the error goes with the link to the person.
    await sql`UPDATE deliveries SET subscriber_id = NULL, last_error = NULL WHERE subscriber_id = ${subscriberId}`.execute(
      tx,
    );
    await sql`UPDATE mail_events SET email_key = ${hash}, diagnostic = NULL WHERE email_key = ${subscriber.email_key}`.execute(
      tx,
    );
    await sql`DELETE FROM suppressions WHERE email_key = ${subscriber.email_key}`.execute(tx);
    await sql`DELETE FROM subscribers WHERE id = ${subscriberId}`.execute(tx);

    const addresses = [subscriber.email, subscriber.pending_email].filter((a): a is string => Boolean(a));
    const pattern = addresses.map(regexEscape).join('|');
    // Every stored (not generated) text, varchar and jsonb column of this schema's tables.
    const { rows: columns } = await sql<{ table_name: string; column_name: string; data_type: string }>`
      SELECT c.table_name, c.column_name, c.data_type
      FROM information_schema.columns c JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
      WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE' AND c.is_generated = 'NEVER'
        AND c.data_type IN ('text', 'character varying', 'jsonb')`.execute(tx);
    for (const column of columns) {
      const table = sql.table(column.table_name);
      const ref = sql.ref(column.column_name);
      if (column.data_type === 'jsonb') {
        await sql`UPDATE ${table} SET ${ref} = regexp_replace(${ref}::text, ${pattern}, '[erased]', 'gi')::jsonb WHERE ${ref}::text ~* ${pattern}`.execute(
          tx,
        );
      } else {
        await sql`UPDATE ${table} SET ${ref} = regexp_replace(${ref}, ${pattern}, '[erased]', 'gi') WHERE ${ref} ~* ${pattern}`.execute(
          tx,
        );
      }
    }
    await tx
      .insertInto('audit')
      .values({
        release_id: null,
        actor,
        action: 'subscriber.erase',
        details: JSON.stringify({ subscriberId, suppressed }),
      })
      .execute();
    return { tombstone: hash };
  });
}
