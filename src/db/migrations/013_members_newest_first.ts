import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  // A list's page shows its newest members first: with this index the first 200 of 100,000 are
  // read in order, where sorting every member by address took most of a second per view.
  await sql`CREATE INDEX list_members_newest ON list_members (list_id, subscribed_at DESC, subscriber_id DESC)`.execute(
    db,
  );
}
