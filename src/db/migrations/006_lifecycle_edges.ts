import { sql, type Kysely } from 'kysely';

export async function up(db: Kysely<unknown>): Promise<void> {
  await sql`
    -- The public slug is made at the lift from the title then current: before it, no URL carries
    -- the headline. Releases not yet lifted lose the slug they were given at creation.
    ALTER TABLE releases ALTER COLUMN slug DROP NOT NULL;
    UPDATE releases SET slug = NULL WHERE lifted_at IS NULL;

    -- The release version a delivery was frozen for. A claim sends only rows of the current version,
    -- so a row staged before an edit, a move, an unschedule or a lift-now can never leave.
    ALTER TABLE deliveries ADD COLUMN release_version integer;
    UPDATE deliveries d SET release_version = r.version FROM releases r WHERE r.id = d.release_id;
    ALTER TABLE deliveries ALTER COLUMN release_version SET NOT NULL;

    -- The fencing token of the claim that holds a row in state sending: renewing its lease,
    -- recording its result and sending it all require the token, so a worker that stalled past its
    -- lease cannot touch a row another worker has taken over. A sent row keeps the token that sent it.
    ALTER TABLE deliveries ADD COLUMN claim_token uuid;
  `.execute(db);
}
